/**
 * The floor for any Node.js registry client, as a bench baseline: push an OCI layout's image with
 * nothing but node:http: for each blob a POST and one monolithic PUT, then the manifest. No
 * command line, settings, checks, HEAD, retries, credentials or logs. Run as a script:
 *   node dist/bench/node-push.js LAYOUT HOST:PORT REPO TAG
 */
import http from 'node:http';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [layout, host, repo, tag] = process.argv.slice(2) as [string, string, string, string];
const agent = new http.Agent({ keepAlive: true });
const blob = (digest: string) => join(layout, 'blobs', digest.replace(':', '/'));

function request(method: string, path: string, headers: Record<string, string | number>, body?: Buffer | string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const [hostname, port] = host.split(':');
    const r = http.request({ hostname, port, path, method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    r.on('error', reject);
    if (typeof body === 'string') createReadStream(body).pipe(r);
    else r.end(body);
  });
}

async function pushBlob(digest: string): Promise<void> {
  const start = await request('POST', `/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 });
  const at = new URL(start.headers.location!, `http://${host}`);
  at.searchParams.set('digest', digest);
  const put = await request('PUT', at.pathname + at.search, { 'Content-Type': 'application/octet-stream', 'Content-Length': statSync(blob(digest)).size }, blob(digest));
  if (put.statusCode !== 201) throw new Error(`PUT ${digest}: ${put.statusCode}`);
}

const top = (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] }).manifests[0]!;
const manifest = readFileSync(blob(top.digest));
const m = JSON.parse(manifest.toString()) as { config: { digest: string }; layers: { digest: string }[] };
await Promise.all([m.config, ...m.layers].map((d) => pushBlob(d.digest)));
const put = await request('PUT', `/v2/${repo}/manifests/${tag}`, { 'Content-Type': top.mediaType, 'Content-Length': manifest.length }, manifest);
if (put.statusCode !== 201) throw new Error(`PUT manifest: ${put.statusCode}`);
agent.destroy();
