/**
 * Answers that are not what the protocol says, from a real HTTP server on 127.0.0.1 (HTML, garbage,
 * a token that is no JSON) and from a closed port, and OCI layouts someone else wrote (an index
 * that is not JSON, a missing blob, a digest that names another path): each is one line saying
 * what osb asked, what came back (status, content type, first bytes) and what to check. No JSON
 * parser or fs message reaches the user, and retries are one line, not one per attempt.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pushLayout } from '../../publish/layout.js';
import { RegistryClient } from '../../publish/registry.js';
import { publishS3 } from '../../publish/s3.js';
import { recordingReporter, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, OSB, type OsbResult } from '../helpers/cli.js';
import { craftOciArchive } from '../helpers/crafted-tar.js';

let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  removeTempDirs();
});

/** A server answering every request with `h`; its host:port. */
async function serve(h: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<string> {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => h(req, res));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const html = (res: http.ServerResponse, status = 200) => res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' }).end('<html><body>this is not a registry</body></html>\n');
const RAW = /Unexpected token|is not valid JSON|JSON\.parse|ENOENT: no such file|\bat .*\.js:\d+/;

/** stderr is one "osb:" error line and at most one hint. */
function oneErrorLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^osb: hint: /);
  expect(stderr).not.toMatch(RAW);
  return lines[0]!;
}

/** osb in the background (the test's server must keep answering while it runs). */
function osbAsync(args: readonly string[], cwd: string): Promise<OsbResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OSB, ...args], { env: cleanEnv(), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const parentBuild = (wd: string, parent: string, ...more: string[]) => osbAsync(['rootfs', '--workdir', wd, '--parent', parent, '--agent-init', '--insecure-registry', ...more], wd);

describe('a registry that is not one', () => {
  test('HTML with 200 for everything: one line naming the GET, the status, the content type and the first bytes', async () => {
    const host = await serve((_q, res) => html(res));
    const wd = tempDir('osb-answers-wd-');
    const r = await parentBuild(wd, `docker://${host}/guests/base:1`);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r.stderr)).toMatch(new RegExp(`^osb: rootfs failed: registry ${host} answered GET manifest 1 with 200 OK, text/html, which is not JSON: 49 bytes starting '<html><body>this is not a registry</body></html>\\\\n'$`));
    expect(r.stderr).toMatch(/hint: check that 127\.0\.0\.1:\d+ is an OCI registry/);
    expect(readdirSync(wd).filter((n) => !['logs', '.osb', '.osb-owned'].includes(n))).toEqual([]);
  });

  test('404 HTML for /v2/: the status, what came back, and that a registry answers /v2/', async () => {
    const host = await serve((_q, res) => html(res, 404));
    const r = await parentBuild(tempDir('osb-answers-wd-'), `docker://${host}/guests/base:1`);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r.stderr)).toMatch(/^osb: rootfs failed: registry 127\.0\.0\.1:\d+ GET \/v2\/: 404 Not Found \(text\/html, 49 bytes starting '<html>/);
    expect(r.stderr).toMatch(/hint: check that 127\.0\.0\.1:\d+ is an OCI registry: one answers GET \/v2\/ with 200 or 401/);
  });

  test('a manifest answer of garbage bytes, and a token server that answers no JSON: one line each', async () => {
    const host = await serve((q, res) => {
      if (q.url!.startsWith('/token')) return res.writeHead(200, { 'Content-Type': 'application/json' }).end('\x00\x01garbage');
      if (!q.headers.authorization) return res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${q.headers.host}/token"` }).end();
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end('\xff\xfe not json');
    });
    const client = new RegistryClient({ host, repo: 'a/b', insecure: true, log: recordingReporter(), retry: { retries: 0, baseDelayMs: 1 }, access: 'pull' });
    const err = await client.pullManifest('1').then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^registry 127\.0\.0\.1:\d+ answered GET \/token \(a token\) with 200 OK, application\/json, which is not JSON: 9 bytes starting '\\x00\\x01garbage'$/);
    client.close();
  });

  test('an unreachable registry: the retries are one line, the failure one line, three lines in all', async () => {
    const port = await closedPort();
    const r = await parentBuild(tempDir('osb-answers-wd-'), `docker://127.0.0.1:${port}/guests/base:1`);
    expect(r.code).toBe(1);
    const all = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /ECONNREFUSED|retry|osb: hint:/.test(l));
    expect(all).toEqual([
      expect.stringMatching(new RegExp(`connection to 127\\.0\\.0\\.1:${port} failed during GET 127\\.0\\.0\\.1:${port}/v2/: ECONNREFUSED; retrying 4 more times \\(next in 0\\.5 s\\)$`)),
      `osb: rootfs failed: connection to 127.0.0.1:${port} failed during GET 127.0.0.1:${port}/v2/: ECONNREFUSED (gave up after 5 attempts)`,
      expect.stringMatching(/^osb: hint: check that the registry is up/),
    ]);
    oneErrorLine(r.stderr);
  }, 60_000);
});

describe('an OCI layout someone else wrote (--parent oci:DIR)', () => {
  /** A sound layout of one small layer, then `damage` applied to it. */
  function layout(damage: (dir: string, digests: { manifest: string; config: string }) => void): string {
    const dir = join(tempDir('osb-answers-layout-'), 'l');
    craftOciArchive(dir, `${dir}.tar`, [[{ name: 'etc', type: 'dir' }, { name: 'etc/motd', data: 'hi\n' }]]);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = index.manifests[0]!.digest;
    const m = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', manifest.slice(7)), 'utf8')) as { config: { digest: string } };
    damage(dir, { manifest, config: m.config.digest });
    return dir;
  }
  const blob = (dir: string, d: string) => join(dir, 'blobs', 'sha256', d.slice(7));

  test.each([
    ['an index that is not JSON', (dir: string) => writeFileSync(join(dir, 'index.json'), 'this is not json'), /^osb: rootfs failed: the index of OCI layout \S+ \(\S+index\.json\) is not JSON: 16 bytes starting 'this is not json'$/],
    ['a missing manifest blob', (dir: string, d: { manifest: string }) => rmSync(blob(dir, d.manifest)), /^osb: rootfs failed: the manifest sha256:[0-9a-f]{64} of OCI layout \S+ is missing \(\S+\/blobs\/sha256\/[0-9a-f]{64}\)$/],
    ['a config that is not JSON', (dir: string, d: { config: string }) => writeFileSync(blob(dir, d.config), '\x89PNG'), /^osb: rootfs failed: the config sha256:[0-9a-f]{64} of OCI layout \S+ \(\S+\) is not JSON: \d+ bytes starting '\\x/],
    ['a digest that names another path', (dir: string) => writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ digest: 'sha256:../../../../etc/passwd', size: 1 }] })), /^osb: rootfs failed: \S+: index\.json names digest "sha256:\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", not sha256: and 64 hex digits$/],
  ])('%s: one line naming the layout and the document', async (_what, damage, message) => {
    const dir = layout(damage as never);
    const wd = tempDir('osb-answers-wd-');
    const r = await parentBuild(wd, `oci:${dir}`);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r.stderr)).toMatch(message);
    expect(readdirSync(wd).filter((n) => !['logs', '.osb', '.osb-owned'].includes(n))).toEqual([]);
  });

  test('osb publish of a layout whose index is gone or damaged: one line, no request sent', async () => {
    let asked = 0;
    const host = await serve((_q, res) => (asked++, res.writeHead(200).end()));
    const dir = tempDir('osb-answers-push-');
    const o = { host, repo: 'a/b', insecure: true, log: recordingReporter(), retry: { retries: 0, baseDelayMs: 1 } };
    await expect(pushLayout(dir, ['1'], o)).rejects.toThrow(/^the index of OCI layout \S+ is missing \(\S+index\.json\)$/);
    writeFileSync(join(dir, 'index.json'), '{"manifests":[{"digest":"sha256:' + '0'.repeat(64) + '"}]}');
    await expect(pushLayout(dir, ['1'], o)).rejects.toThrow(/^manifest sha256:0{64} of OCI layout \S+ is missing$/);
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'blobs', 'sha256', '0'.repeat(64)), '<html>');
    await expect(pushLayout(dir, ['1'], o)).rejects.toThrow(/^manifest sha256:0{64} of OCI layout \S+ is not JSON: 6 bytes starting '<html>'$/);
    expect(asked).toBe(0);
  });
});

describe('an S3 endpoint that is not one', () => {
  const upload = async (endpoint: string) => {
    const file = join(tempDir('osb-answers-s3-'), 'vmlinuz');
    writeFileSync(file, 'kernel\n');
    return publishS3({ endpoint, bucket: 'boot', name: 'guest', tags: ['1'], arch: 'x86_64', accessKey: 'a', secretKey: 's', artifacts: [{ name: 'vmlinuz', path: file }], log: recordingReporter() }).then(
      () => undefined,
      (e: Error & { hint?: string }) => e,
    );
  };

  test.each([
    ['HTML with 200 (no ETag)', (res: http.ServerResponse) => html(res), /^S3 endpoint http:\/\/127\.0\.0\.1:\d+ answered the upload of guest\/1\/x86_64\/vmlinuz with 200, text\/html, 49 bytes starting '<html><body>this is not a registry<\/body><\/html>\\n', which is not an S3 answer \(no ETag\)$/],
    ['HTML with 403 from a proxy', (res: http.ServerResponse) => html(res, 403), /^S3 endpoint http:\/\/127\.0\.0\.1:\d+ answered the upload of guest\/1\/x86_64\/vmlinuz with 403, text\/html, 49 bytes starting '<html>.*, which is not an S3 answer$/],
  ])('%s: one line with what came back', async (_what, answer, message) => {
    const host = await serve((_q, res) => answer(res));
    const e = await upload(`http://${host}`);
    expect(e?.message).toMatch(message);
    expect(e?.hint).toMatch(/S3 API endpoint/);
  });

  test('a closed port: one line saying it did not answer, and after how many attempts', async () => {
    const e = await upload(`http://127.0.0.1:${await closedPort()}`);
    expect(e?.message).toMatch(/^S3 endpoint http:\/\/127\.0\.0\.1:\d+ did not answer the upload of guest\/1\/x86_64\/vmlinuz \(connect ECONNREFUSED 127\.0\.0\.1:\d+, after 4 attempts\)$/);
  }, 60_000);
});
