/**
 * Signing with the consumers as oracles: podman and skopeo enforcing a containers-policy.json
 * that requires sigstoreSigned with osb's key (use-sigstore-attachments in registries.d), skopeo
 * signing with an osb-made key, openssl checking a DSSE envelope over its PAE. Debian 12's skopeo
 * and podman are built with sigstore disabled; these are Debian 13's (.ci/debian13-verifiers).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyFileSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { localDigest, makeRegistry, osbAsync, type Registry } from './servers.js';
import { consumer as consume, containersEtc as etcFor, requireVerifiers, SKOPEO } from './verifiers.js';

const run = promisify(execFile);
const consumer = (tool: 'podman' | 'skopeo', ref: string, pub: string) => consume(tool, reg.host, ref, pub);
const containersEtc = (pub: string) => etcFor(reg.host, pub);
const PASS = 'correct horse';

let reg: Registry;
let keys: string;
let other: string;
let rootfs: string;
let wd: string;
let wd2: string;
const env = (extra: NodeJS.ProcessEnv = {}) => cleanEnv({ OSB_SIGN_PASSWORD: PASS, ...extra });

beforeAll(async () => {
  requireVerifiers();
  reg = await makeRegistry(tempDir('osb-sign-registry-'), 'plain');
  keys = tempDir('osb-keys-');
  other = tempDir('osb-keys-other-');
  for (const d of [keys, other]) {
    const r = osb(['keygen'], { cwd: d, env: env() });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  rootfs = makeFixtureRootfs(join(tempDir('osb-sign-'), 'rootfs'));
  symlinkSync('sbin/init', join(rootfs, 'init')); // an initrd's init
  wd = tempDir('osb-sign-wd-');
  wd2 = tempDir('osb-sign-wd2-');
  for (const [w, label] of [[wd, 'one'], [wd2, 'two']] as const) {
    const r = osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', w, '--oci-ref', 'localhost/osb-sign:1', '--label', `which=${label}`]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  removeTempDirs();
});

const publish = (w: string, repo: string, tag: string, ...more: string[]) =>
  osbAsync(['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', w, '--oci-ref', 'localhost/osb-sign:1', '--publish-registry', `${reg.host}/${repo}`, '--tag', tag, '--insecure-registry', ...more], env());

describe('osb keygen', () => {
  test('writes cosign.key (sigstore encrypted PEM, private) and cosign.pub, and never replaces them', () => {
    const key = readFileSync(join(keys, 'cosign.key'), 'utf8');
    expect(key).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    expect(JSON.parse(Buffer.from(key.split('\n').slice(1, -2).join(''), 'base64').toString())).toMatchObject({ kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 } }, cipher: { name: 'nacl/secretbox' } });
    expect(statSync(join(keys, 'cosign.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(keys, 'cosign.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const again = osb(['keygen'], { cwd: keys, env: env() });
    expect(again.code).toBe(2);
    expect(errorLine(again.stderr)).toMatch(/cosign\.key exists; osb keygen does not replace a key/);
    expect(readFileSync(join(keys, 'cosign.key'), 'utf8')).toBe(key);
  });

  test('without a passphrase and a terminal, one line says which variable to set', () => {
    const d = tempDir('osb-keys-none-');
    const r = osb(['keygen'], { cwd: d, env: cleanEnv() });
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/passphrase/);
    expect(r.stderr).toMatch(/OSB_SIGN_PASSWORD/);
    expect(existsSync(join(d, 'cosign.key'))).toBe(false);
  });
});

describe('osb publish --sign-key, with podman and skopeo as the verifiers', () => {
  let signed: string;

  beforeAll(async () => {
    const r = await publish(wd, 'guests/signed', 'v1', '--sign-key', join(keys, 'cosign.key'));
    if (r.code !== 0) throw new Error(r.stderr);
    expect(r.stdout).toMatch(/signed 127\.0\.0\.1:\d+\/guests\/signed@sha256:[0-9a-f]{64} with .*cosign\.key: 1 signature under :sha256-[0-9a-f]{64}\.sig, 2 attestations under :sha256-[0-9a-f]{64}\.att/);
    signed = `${reg.host}/guests/signed:v1`;
  }, 120_000);

  test.each(['podman', 'skopeo'] as const)('%s pulls the osb-signed image under a policy that requires osb\'s key', async (tool) => {
    const r = await consumer(tool, signed, join(keys, 'cosign.pub'));
    expect(r.err).toBe('');
    expect(r.ok).toBe(true);
  }, 120_000);

  test.each(['podman', 'skopeo'] as const)('%s refuses an unsigned image, one signed with another key, and a tag moved after signing', async (tool) => {
    expect((await publish(wd, 'guests/unsigned', 'v1')).code).toBe(0);
    expect((await publish(wd, 'guests/otherkey', 'v1', '--sign-key', join(other, 'cosign.key'))).code).toBe(0);
    expect((await publish(wd, 'guests/moved', 'v1', '--sign-key', join(keys, 'cosign.key'))).code).toBe(0);
    expect((await publish(wd2, 'guests/moved', 'v1')).code).toBe(0); // another image under the signed tag
    const pub = join(keys, 'cosign.pub');
    const unsigned = await consumer(tool, `${reg.host}/guests/unsigned:v1`, pub);
    expect(unsigned.ok).toBe(false);
    expect(unsigned.err).toMatch(/A signature was required, but no signature exists/);
    const wrong = await consumer(tool, `${reg.host}/guests/otherkey:v1`, pub);
    expect(wrong.ok).toBe(false);
    expect(wrong.err).toMatch(/cryptographic signature verification failed|invalid signature/i);
    const moved = await consumer(tool, `${reg.host}/guests/moved:v1`, pub);
    expect(moved.ok).toBe(false);
    expect(moved.err).toMatch(/A signature was required, but no signature exists/);
  }, 240_000);

  test('osb verify agrees: the signature and both attestations; exit 1 naming what does not match', async () => {
    const pub = join(keys, 'cosign.pub');
    const ok = osb(['verify', signed, '--key', pub, '--insecure-registry']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const digest = localDigest(join(wd, 'osb-oci'));
    expect(ok.stdout).toBe(`verified ${reg.host}/guests/signed@${digest} with ${pub}: signed as ${signed}; attestations: https://spdx.dev/Document, https://slsa.dev/provenance/v1\n`);
    const other_ = osb(['verify', `${reg.host}/guests/otherkey:v1`, '--key', pub, '--insecure-registry']);
    expect(other_.code).toBe(1);
    expect(errorLine(other_.stderr)).toMatch(/none of the image's 1 signature verifies with/);
    const unsigned = osb(['verify', `${reg.host}/guests/unsigned:v1`, '--key', pub, '--insecure-registry']);
    expect(unsigned.code).toBe(1);
    expect(errorLine(unsigned.stderr)).toMatch(/has no signature/);
    const moved = osb(['verify', `${reg.host}/guests/moved:v1`, '--key', pub, '--insecure-registry']);
    expect(moved.code).toBe(1);
    expect(errorLine(moved.stderr)).toMatch(/has no signature/);
    // Signed as v1 only: another tag of the same image is not vouched for, as podman's default rule says.
    expect((await publish(wd, 'guests/signed', 'v2')).code).toBe(0);
    const v2 = osb(['verify', `${reg.host}/guests/signed:v2`, '--key', pub, '--insecure-registry']);
    expect(v2.code).toBe(1);
    expect(errorLine(v2.stderr)).toBe(`osb: ${reg.host}/guests/signed:v2: the signature by ${pub} names ${signed}, not ${reg.host}/guests/signed:v2`);
  }, 120_000);

  test('a second signing adds nothing that is there already; a wrong passphrase pushes nothing', async () => {
    const again = await publish(wd, 'guests/signed', 'v1', '--sign-key', join(keys, 'cosign.key'));
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already signed with .*cosign\.key: its signature and 2 attestations are there/);
    expect(osb(['verify', signed, '--key', join(keys, 'cosign.pub'), '--insecure-registry']).code).toBe(0);
    const bad = await osbAsync(['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/osb-sign:1', '--publish-registry', `${reg.host}/guests/badpass`, '--tag', 'v1', '--insecure-registry', '--sign-key', join(keys, 'cosign.key')], env({ OSB_SIGN_PASSWORD: 'wrong' }));
    // scrypt runs while the blobs go up; no tag names the image before the key has opened.
    expect(bad.code).toBe(1);
    expect(errorLine(bad.stderr)).toBe(`osb: publish failed: wrong passphrase for ${join(keys, 'cosign.key')}`);
    const tags = await fetch(`http://${reg.host}/v2/guests/badpass/tags/list`);
    expect(tags.status).toBe(404);
    // A target that builds waits for the key first: nothing is built.
    const iwd = tempDir('osb-sign-badpass-');
    const build = osb(['initrd', '--no-deps', '--rootfs-dir', rootfs, '--workdir', iwd, '--sign-key', join(keys, 'cosign.key')], { env: env({ OSB_SIGN_PASSWORD: 'wrong' }) });
    expect(build.code).toBe(2);
    expect(errorLine(build.stderr)).toBe(`osb: wrong passphrase for ${join(keys, 'cosign.key')}`);
    expect(existsSync(join(iwd, 'osb-initrd.img'))).toBe(false);
  }, 120_000);
});

describe('the order a puller sees', () => {
  /**
   * A real docker-registry behind a forwarding proxy on 127.0.0.1 that holds each signature's
   * manifest PUT for a second before passing it on, and asks the registry, when the image's own
   * tag comes, whether the signature and attestations are there already.
   */
  test('the tag names the image only once its signature and attestations are in the registry', async () => {
    const [regHost, regPort] = reg.host.split(':') as [string, string];
    const seen: { at: string; sig: number; att: number }[] = [];
    const status = async (ref: string) => (await fetch(`http://${reg.host}/v2/guests/ordered/manifests/${ref}`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status;
    const digest = localDigest(join(wd, 'osb-oci')).replace(':', '-');
    const proxy = http.createServer((req, res) => {
      const body: Buffer[] = [];
      req.on('data', (c: Buffer) => body.push(c));
      req.on('end', async () => {
        const path = req.url ?? '/';
        if (req.method === 'PUT' && /\/manifests\/sha256-[0-9a-f]{64}\.(sig|att)$/.test(path)) await sleep(1000);
        if (req.method === 'PUT' && path.endsWith('/manifests/v1')) seen.push({ at: path, sig: await status(`${digest}.sig`), att: await status(`${digest}.att`) });
        const out = http.request({ host: regHost, port: Number(regPort), method: req.method, path, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(body));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const via = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const r = await osbAsync(['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/osb-sign:1', '--publish-registry', `${via}/guests/ordered`, '--tag', 'v1', '--insecure-registry', '--sign-key', join(keys, 'cosign.key')], env());
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
    expect(seen).toEqual([{ at: '/v2/guests/ordered/manifests/v1', sig: 200, att: 200 }]);
  }, 120_000);
});

describe('skopeo as the signer', () => {
  test('skopeo copy --sign-by-sigstore-private-key with an osb-made key: osb verify accepts it, and refuses another key', async () => {
    const passFile = join(keys, 'pass');
    writeFileSync(passFile, PASS);
    const ref = `${reg.host}/guests/by-skopeo:s1`;
    const etc = containersEtc(join(keys, 'cosign.pub'));
    await run(SKOPEO, ['--registries.d', join(etc, 'registries.d'), 'copy', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', join(keys, 'cosign.key'), '--sign-passphrase-file', passFile, `oci:${join(wd, 'osb-oci')}`, `docker://${ref}`], { maxBuffer: 1 << 24 });
    const ok = osb(['verify', ref, '--key', join(keys, 'cosign.pub'), '--insecure-registry']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(new RegExp(`signed as ${ref.replace(/\./g, '\\.')}; no attestations`));
    const bad = osb(['verify', ref, '--key', join(other, 'cosign.pub'), '--insecure-registry']);
    expect(bad.code).toBe(1);
    expect(errorLine(bad.stderr)).toMatch(/none of the image's 1 signature verifies with/);
  }, 120_000);
});

describe('DSSE envelopes beside the artefacts', () => {
  let iwd: string;
  beforeAll(() => {
    iwd = tempDir('osb-sign-initrd-');
    const r = osb(['initrd', '--no-deps', '--rootfs-dir', rootfs, '--workdir', iwd, '--sign-key', join(keys, 'cosign.key')], { env: env() });
    if (r.code !== 0) throw new Error(r.stderr);
  }, 120_000);

  test('openssl verifies the envelope over the DSSE pre-authentication encoding; its statement names the initrd\'s sha256', async () => {
    for (const kind of ['intoto', 'spdx']) {
      const envFile = join(iwd, `osb-initrd.img.${kind}.dsse.json`);
      const e = JSON.parse(readFileSync(envFile, 'utf8')) as { payloadType: string; payload: string; signatures: { sig: string }[] };
      const body = Buffer.from(e.payload, 'base64');
      const pae = Buffer.concat([Buffer.from(`DSSEv1 ${e.payloadType.length} ${e.payloadType} ${body.length} `), body]);
      writeFileSync(join(iwd, 'pae.bin'), pae);
      writeFileSync(join(iwd, 'sig.der'), Buffer.from(e.signatures[0]!.sig, 'base64'));
      const { stdout } = await run('openssl', ['dgst', '-sha256', '-verify', join(keys, 'cosign.pub'), '-signature', join(iwd, 'sig.der'), join(iwd, 'pae.bin')]);
      expect(stdout.trim()).toBe('Verified OK');
      const { stdout: sum } = await run('sha256sum', [join(iwd, 'osb-initrd.img')]);
      expect((JSON.parse(body.toString()) as { subject: { digest: { sha256: string } }[] }).subject.map((x) => x.digest.sha256)).toContain(sum.split(' ')[0]);
    }
    const v = osb(['verify', join(iwd, 'osb-initrd.img'), '--key', join(keys, 'cosign.pub')]);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/^verified .*osb-initrd\.img \(sha256:[0-9a-f]{64}\) with .*: https:\/\/slsa\.dev\/provenance\/v1, https:\/\/spdx\.dev\/Document\n$/);
  });

  test('an up-to-date build keeps its envelopes; a flipped byte in the artefact or in a payload makes osb verify exit 1 naming which', () => {
    const envFile = join(iwd, 'osb-initrd.img.intoto.dsse.json');
    const before = readFileSync(envFile, 'utf8');
    expect(osb(['initrd', '--no-deps', '--rootfs-dir', rootfs, '--workdir', iwd, '--sign-key', join(keys, 'cosign.key')], { env: env() }).code).toBe(0);
    expect(readFileSync(envFile, 'utf8')).toBe(before);
    const copy = tempDir('osb-sign-flip-');
    for (const f of ['osb-initrd.img', 'osb-initrd.img.intoto.dsse.json', 'osb-initrd.img.spdx.dsse.json']) copyFileSync(join(iwd, f), join(copy, f));
    const img = readFileSync(join(copy, 'osb-initrd.img'));
    img[100] ^= 1;
    writeFileSync(join(copy, 'osb-initrd.img'), img);
    const a = osb(['verify', join(copy, 'osb-initrd.img'), '--key', join(keys, 'cosign.pub')]);
    expect(a.code).toBe(1);
    expect(errorLine(a.stderr)).toMatch(/^osb: osb-initrd\.img has sha256 [0-9a-f]{64}, not the digest osb-initrd\.img\.intoto\.dsse\.json signs \([0-9a-f]{64}\)$/);
    img[100] ^= 1;
    writeFileSync(join(copy, 'osb-initrd.img'), img);
    const e = JSON.parse(before) as { payload: string };
    const body = Buffer.from(e.payload, 'base64');
    body[body.length - 3] ^= 1;
    writeFileSync(join(copy, 'osb-initrd.img.intoto.dsse.json'), JSON.stringify({ ...e, payload: body.toString('base64') }));
    const b = osb(['verify', join(copy, 'osb-initrd.img'), '--key', join(keys, 'cosign.pub')]);
    expect(b.code).toBe(1);
    expect(errorLine(b.stderr)).toBe('osb: osb-initrd.img.intoto.dsse.json has no signature by this key over its payload (the payload or the signature was changed, or another key signed it)');
  });
});
