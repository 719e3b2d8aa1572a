/**
 * NODE_EXTRA_CA_CERTS, deferred by osb's bin from Node's start to the first TLS connection
 * (lib/extra-ca.ts, the launcher's shell line in scripts/bundle.ts): a command that speaks no TLS
 * does not read the file, osb's children still see the variable, and every kind of TLS client osb
 * uses (node:https as the registry client and the S3 SDK use it, and fetch) trusts the file's
 * certificates against a real TLS server on 127.0.0.1, as Node would have.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanEnv, OSB } from '../helpers/cli.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { makeFixtureRootfs, REPO_ROOT } from '../helpers/fixture-rootfs.js';

const EXTRA_CA = join(process.env.OSB_TEST_DIST ?? join(REPO_ROOT, 'dist'), 'lib', 'extra-ca.js');
/** The bin run as a program, as `npx osb` runs it (this Node on PATH, if no other is). */
const bin = (args: readonly string[], env: NodeJS.ProcessEnv) =>
  spawnSync(OSB, args, { env: { ...env, PATH: `${env.PATH ?? ''}:${dirname(process.execPath)}` }, encoding: 'utf8', timeout: 120_000 });

let dir: string;
let server: https.Server;
let url: string;
let cert: string;
beforeAll(async () => {
  dir = tempDir();
  cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_req, res) => res.end('trusted'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  removeTempDirs();
});

describe('NODE_EXTRA_CA_CERTS under the bin', () => {
  test('a command that speaks no TLS does not read it (Node itself warns at start about a missing file; the bin does not)', () => {
    const env = cleanEnv({ NODE_EXTRA_CA_CERTS: join(dir, 'missing.pem') });
    const viaNode = spawnSync(process.execPath, [OSB, '--version'], { env, encoding: 'utf8' });
    expect(viaNode.stderr).toMatch(/Ignoring extra certs from `\S+missing\.pem`/);
    const r = bin(['--version'], env);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^osb \d/);
    // NODE_OPTIONS that choose the CA store leave it to Node.
    const chosen = bin(['--version'], { ...env, NODE_OPTIONS: '--use-openssl-ca' });
    expect(chosen.stderr).toMatch(/Ignoring extra certs from `\S+missing\.pem`/);
  });

  test("osb's tools run in the same environment as under `node main.cjs`: nothing of the deferral reaches them", () => {
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    const spy = join(dir, 'spy');
    mkdirSync(spy);
    const real = execFileSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).trim();
    const seen = (how: string) => {
      const out = join(dir, `${how}.env`);
      writeFileSync(join(spy, 'zstd'), `#!/bin/sh\nenv | grep -v '^_=' | sort > ${out}\nexec ${real} "$@"\n`);
      chmodSync(join(spy, 'zstd'), 0o755);
      const env = cleanEnv({ NODE_EXTRA_CA_CERTS: cert, PATH: `${spy}:${process.env.PATH}:${dirname(process.execPath)}` });
      const args = ['initrd', '--no-deps', '--rootfs-dir', rootfs, '--workdir', join(dir, how), '--compression', 'zstd', '--agent-init'];
      const r = how === 'bin' ? spawnSync(OSB, args, { env, encoding: 'utf8' }) : spawnSync(process.execPath, [OSB, ...args], { env, encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([0, '']);
      return readFileSync(out, 'utf8');
    };
    const viaNode = seen('node');
    expect(viaNode).toMatch(/^PATH=/m);
    expect(seen('bin')).toBe(viaNode);
  }, 120_000);

  test('after the deferral, node:https and fetch trust the file against a real TLS server; a client with its own ca trusts only that; contexts are shared', async () => {
    // The module as the launcher calls it, in a Node started without the variable (as the bin starts it).
    const script = `
      import https from 'node:https';
      import tls from 'node:tls';
      const { deferExtraCa } = await import(${JSON.stringify(pathToFileURL(EXTRA_CA).href)});
      deferExtraCa();
      const get = (o) => new Promise((res) => https.get(process.argv[1], o, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => res(b)); }).on('error', (e) => res(e.code)));
      const out = {
        env: process.env.NODE_EXTRA_CA_CERTS ?? null,
        https: await get({}),
        fetch: await fetch(process.argv[1]).then((r) => r.text(), (e) => e.cause?.code ?? String(e)),
        ownCa: await get({ ca: tls.rootCertificates.slice(0, 1) }),
        shared: tls.createSecureContext({}) === tls.createSecureContext({}),
      };
      console.log(JSON.stringify(out));`;
    // Asynchronously: the server answers from this process.
    const run = (file: string) =>
      new Promise<{ out: Record<string, unknown> | null; stderr: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, OSB_DEFERRED_NODE_EXTRA_CA_CERTS: file };
        delete env.NODE_EXTRA_CA_CERTS;
        execFile(process.execPath, ['--input-type=module', '-e', script, url], { env, encoding: 'utf8', timeout: 30_000 }, (_e, stdout, stderr) =>
          resolve({ out: JSON.parse(stdout || 'null') as Record<string, unknown> | null, stderr }),
        );
      });
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8') + readFileSync(cert, 'utf8'));
    expect((await run(bundle)).out).toEqual({ env: bundle, https: 'trusted', fetch: 'trusted', ownCa: 'DEPTH_ZERO_SELF_SIGNED_CERT', shared: true });
    // Without the test certificate in the file, the server is not trusted: the file is what trusts it.
    const other = join(dir, 'other.pem');
    writeFileSync(other, readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8'));
    expect((await run(other)).out).toMatchObject({ https: 'DEPTH_ZERO_SELF_SIGNED_CERT', fetch: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    // A file that cannot be read: Node's warning, at the first connection, and the bundled roots.
    const missing = await run(join(dir, 'missing.pem'));
    expect(missing.out).toMatchObject({ https: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(missing.stderr).toMatch(/Warning: Ignoring extra certs from `\S+missing\.pem`, load failed: ENOENT/);
  }, 60_000);
});
