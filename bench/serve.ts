/**
 * A static file server on 127.0.0.1 for the test repositories (apk, rpm): `resolve` maps a
 * request path to a file, or undefined for 404. Every request path is recorded, so tests can
 * tell what osb fetched.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';

export interface Served {
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function serveFiles(resolve: (path: string) => string | undefined): Promise<Served> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    try {
      const file = resolve(path);
      if (!file) throw new Error('not served');
      const body = readFileSync(file);
      res.writeHead(200, { 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((ok) => server.close(() => ok())) };
}
