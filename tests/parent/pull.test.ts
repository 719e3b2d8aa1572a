/**
 * The pull side of the registry client against a scripted server: a blob through a 307 redirect,
 * a 503 retried, a body that does not match its digest refused (and no file left), a manifest whose
 * Docker-Content-Digest disagrees refused, a 404 named.
 */
import { afterEach, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { RegistryClient } from '../../publish/registry.js';
import { recordingReporter, removeTempDirs, tempDir } from '../helpers/build-context.js';

let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  removeTempDirs();
});

async function serve(h: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<string> {
  server = http.createServer(h);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const data = Buffer.alloc(3000, 9);
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
const client = (host: string) => new RegistryClient({ host, repo: 'a/b', insecure: true, log: recordingReporter(), retry: { retries: 2, baseDelayMs: 1 }, access: 'pull' });

test('a blob through a 307 redirect, after a 503, is written and checked', async () => {
  let n = 0;
  const host = await serve((req, res) => {
    if (req.url === '/storage/x') return res.writeHead(200).end(data);
    if (n++ === 0) return res.writeHead(503).end();
    res.writeHead(307, { Location: '/storage/x' }).end();
  });
  const file = join(tempDir('osb-pull-'), 'blob');
  await client(host).pullBlob({ mediaType: 'x', digest, size: data.length }, file);
  expect(readFileSync(file).equals(data)).toBe(true);
});

test('a body that does not match its digest is refused and no file is left', async () => {
  const host = await serve((_req, res) => res.writeHead(200).end(Buffer.alloc(3000, 8)));
  const file = join(tempDir('osb-pull-'), 'blob');
  await expect(client(host).pullBlob({ mediaType: 'x', digest, size: data.length }, file)).rejects.toThrow(/sent blob sha256:[0-9a-f]{64} of a\/b as 3000 bytes with sha256 sha256:[0-9a-f]{64}/);
  expect(existsSync(file)).toBe(false);
});

test('a manifest whose bytes do not hash to the digest the registry names is refused; a 404 is named', async () => {
  const m = Buffer.from('{"schemaVersion":2}');
  const host = await serve((req, res) => {
    if (req.url!.endsWith('/missing')) return res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    res.writeHead(200, { 'Docker-Content-Digest': digest, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end(m);
  });
  await expect(client(host).pullManifest('1')).rejects.toThrow(/sent manifest a\/b@1 whose sha256 is sha256:[0-9a-f]{64}, not sha256:/);
  await expect(client(host).pullManifest('missing')).rejects.toThrow(/GET manifest missing: 404 Not Found MANIFEST_UNKNOWN: manifest unknown/);
});
