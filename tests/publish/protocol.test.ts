/**
 * The distribution-spec status codes, answered by a scripted HTTP server: the codes a real
 * registry gives only in rare states (503, 416, 201 on mount, 400 MANIFEST_BLOB_UNKNOWN, 403, a
 * rewritten digest). The real registry runs in registry.slow.ts.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { recordingReporter, tempDir, removeTempDirs } from '../helpers/build-context.js';
import { RegistryClient, parseRegistryTarget } from '../../publish/registry.js';
import { parseChallenge, findCredentials } from '../../publish/auth.js';

type Handler = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void;
interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; size: number }
let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  removeTempDirs();
});

async function serve(h: Handler): Promise<{ host: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, size: body.length });
      h(req, body, res);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server!.address() as AddressInfo).port}`, seen };
}

const data = Buffer.alloc(1000, 7);
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
function blobFile(): string {
  const p = join(tempDir('osb-proto-'), 'blob');
  writeFileSync(p, data);
  return p;
}
const client = (host: string, more: object = {}) => {
  const log = recordingReporter();
  return { log, c: new RegistryClient({ host, repo: 'a/b', insecure: true, log, retry: { retries: 2, baseDelayMs: 1 }, ...more }) };
};
const line = (s: Seen) => `${s.method} ${s.url.replace(/\?.*/, '')}`;

describe('distribution-spec exchange', () => {
  test('HEAD 200: the blob is skipped', async () => {
    const { host, seen } = await serve((_q, _b, res) => res.writeHead(200).end());
    const { c } = client(host);
    await c.pushBlob({ mediaType: 'x', digest, size: data.length }, blobFile());
    expect(seen.map(line)).toEqual([`HEAD /v2/a/b/blobs/${digest}`]);
    expect(c.stats).toEqual({ pushed: 0, skipped: 1, mounted: 0 });
  });

  test('HEAD 404, POST 202 with a relative Location, PUT ?digest keeping its state, 201; a 503 is retried', async () => {
    let failed = false;
    const { host, seen } = await serve((q, b, res) => {
      if (q.method === 'HEAD') return res.writeHead(404).end();
      if (q.method === 'POST') {
        if (!failed) return (failed = true), res.writeHead(503, 'Service Unavailable').end();
        return res.writeHead(202, { Location: '/v2/a/b/blobs/uploads/u1?_state=s1' }).end();
      }
      const u = new URL(q.url!, 'http://x');
      expect(u.searchParams.get('_state')).toBe('s1');
      expect(u.searchParams.get('digest')).toBe(digest);
      expect(b.equals(data)).toBe(true);
      res.writeHead(201).end();
    });
    const { c, log } = client(host);
    await c.pushBlob({ mediaType: 'x', digest, size: data.length }, blobFile());
    expect(seen.map(line)).toEqual([`HEAD /v2/a/b/blobs/${digest}`, 'POST /v2/a/b/blobs/uploads/', `HEAD /v2/a/b/blobs/${digest}`, 'POST /v2/a/b/blobs/uploads/', 'PUT /v2/a/b/blobs/uploads/u1']);
    expect(log.lines.join('\n')).toMatch(/503 Service Unavailable; retrying 2 more times/);
    expect(c.stats.pushed).toBe(1);
  });

  test('chunked: PATCH with Content-Range, each to the last Location; a 416 restarts the upload', async () => {
    let first416 = true;
    const { host, seen } = await serve((q, _b, res) => {
      if (q.method === 'HEAD') return res.writeHead(404).end();
      if (q.method === 'POST') return res.writeHead(202, { Location: '/up/0' }).end();
      if (q.method === 'PATCH') {
        if (q.headers['content-range'] === '400-799' && first416) return (first416 = false), res.writeHead(416).end();
        return res.writeHead(202, { Location: `/up/${q.headers['content-range']}` }).end();
      }
      res.writeHead(201).end();
    });
    const { c } = client(host, { chunkSize: 400 });
    await c.pushBlob({ mediaType: 'x', digest, size: data.length }, blobFile());
    const patches = seen.filter((s) => s.method === 'PATCH').map((s) => `${s.url} ${s.headers['content-range']} ${s.size}`);
    expect(patches).toEqual(['/up/0 0-399 400', '/up/0-399 400-799 400', '/up/0 0-399 400', '/up/0-399 400-799 400', '/up/400-799 800-999 200']);
    expect(seen.at(-1)!.url).toBe(`/up/800-999?digest=${encodeURIComponent(digest)}`);
  });

  test('mount: 201 means mounted; 202 falls back to an upload', async () => {
    for (const [code, expected] of [[201, { pushed: 0, skipped: 0, mounted: 1 }], [202, { pushed: 1, skipped: 0, mounted: 0 }]] as const) {
      const { host, seen } = await serve((q, _b, res) => {
        if (q.method === 'HEAD') return res.writeHead(404).end();
        if (q.method === 'POST') return res.writeHead(code, { Location: '/up/1' }).end();
        res.writeHead(201).end();
      });
      const { c } = client(host, { mountFrom: 'base/img' });
      await c.pushBlob({ mediaType: 'x', digest, size: data.length }, blobFile());
      expect(seen[1]!.url).toBe(`/v2/a/b/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=base%2Fimg`);
      expect(c.stats).toEqual(expected);
      await new Promise((r) => server!.close(r));
      server = undefined;
    }
  });

  test.each([
    [400, '{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}', {}, /PUT manifest 1: 400 Bad Request MANIFEST_BLOB_UNKNOWN: blob unknown to registry/],
    [403, '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', {}, /denied PUT manifest 1 \(403 Forbidden DENIED/],
    [201, '', { 'Docker-Content-Digest': 'sha256:' + '0'.repeat(64) }, /stored manifest 1 as sha256:0+, not sha256:/],
    [401, '', { 'WWW-Authenticate': 'Basic realm="r"' }, /refused the credentials for a\/b \(authentication: 401 Unauthorized\)/],
  ])('manifest PUT answered %i: one error naming it', async (code, body, headers, msg) => {
    const { host } = await serve((_q, _b, res) => res.writeHead(code, headers).end(body));
    const { c } = client(host);
    await expect(c.pushManifest(Buffer.from('{}'), 'application/vnd.oci.image.manifest.v1+json', '1')).rejects.toThrow(msg);
  });

  test('Bearer: the challenge leads to the token endpoint with the push scope (and the mount source pull); the token is sent', async () => {
    const { host, seen } = await serve((q, _b, res) => {
      if (q.url!.startsWith('/token')) return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"access_token":"T0K"}');
      if (q.headers.authorization !== 'Bearer T0K') return res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="reg",scope="repository:a/b:pull"` }).end();
      res.writeHead(200).end();
    });
    const { c } = client(host, { mountFrom: 'base/img', credentials: { username: 'u', password: 'p' } });
    await c.ping();
    const tok = seen.find((s) => s.url.startsWith('/token'))!;
    const u = new URL(tok.url, 'http://x');
    expect(u.searchParams.get('service')).toBe('reg');
    expect(u.searchParams.getAll('scope')).toEqual(['repository:a/b:pull,push', 'repository:base/img:pull']);
    expect(tok.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(seen.at(-1)!.headers.authorization).toBe('Bearer T0K');
  });

  test('an upload Location on another host gets the upload but not the credentials', async () => {
    const storage: Seen[] = [];
    const other = http.createServer((q, res) => {
      q.resume();
      q.on('end', () => (storage.push({ method: q.method!, url: q.url!, headers: q.headers, size: 0 }), res.writeHead(201).end()));
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const port = (other.address() as AddressInfo).port;
      const { host } = await serve((q, _b, res) => {
        if (q.headers.authorization !== 'Basic dTpw') return res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
        if (q.method === 'GET') return res.writeHead(200).end();
        if (q.method === 'HEAD') return res.writeHead(404).end();
        res.writeHead(202, { Location: `http://localhost:${port}/upload/9` }).end();
      });
      const { c } = client(host, { credentials: { username: 'u', password: 'p' } });
      await c.ping();
      await c.pushBlob({ mediaType: 'x', digest, size: data.length }, blobFile());
      expect(storage.map((s) => `${s.method} ${s.url.replace(/\?.*/, '')}`)).toEqual(['PUT /upload/9']);
      expect(storage[0]!.headers.authorization).toBeUndefined();
      c.close();
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  test('a connection refused: retried, then one line saying how many attempts', async () => {
    const { c } = client('127.0.0.1:1');
    await expect(c.ping()).rejects.toThrow(/^connection to 127\.0\.0\.1:1 failed during GET 127\.0\.0\.1:1\/v2\/: ECONNREFUSED \(gave up after 3 attempts\)$/);
  });
});

describe('references, challenges, auth files', () => {
  test('HOST[:PORT]/REPO', () => {
    expect(parseRegistryTarget('reg.example.org:5000/guests/osb')).toEqual({ host: 'reg.example.org:5000', repo: 'guests/osb' });
    expect(() => parseRegistryTarget('reg.example.org/Guests:1')).toThrow(/HOST\[:PORT\]\/REPO/);
  });
  test('WWW-Authenticate', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"')).toEqual({ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:a/b:pull,push' } });
    expect(parseChallenge('Basic realm="Registry Realm"')?.scheme).toBe('basic');
    expect(parseChallenge(undefined)).toBeUndefined();
  });
  test('auth files: REGISTRY_AUTH_FILE first, the most specific key wins, then docker config', () => {
    const home = tempDir('osb-auth-');
    const a = (s: string) => ({ auth: Buffer.from(s).toString('base64') });
    const f = join(home, 'a.json');
    writeFileSync(f, JSON.stringify({ auths: { 'reg:5000': a('host:1'), 'reg:5000/team': a('team:2') } }));
    mkdirSync(join(home, '.docker'));
    writeFileSync(join(home, '.docker/config.json'), JSON.stringify({ auths: { 'https://other:443': a('d:3') } }));
    const env = { HOME: home, REGISTRY_AUTH_FILE: f };
    expect(findCredentials('reg:5000', 'team/img', env)).toMatchObject({ username: 'team', password: '2' });
    expect(findCredentials('reg:5000', 'solo/img', env)).toMatchObject({ username: 'host', password: '1' });
    expect(findCredentials('other:443', 'x', env)).toMatchObject({ username: 'd', password: '3', file: join(home, '.docker/config.json') });
    expect(findCredentials('nowhere', 'x', env)).toBeUndefined();
  });
});
