/**
 * One HTTP exchange with node:http/https, and the retry policy around whole operations: a 5xx
 * answer or a dropped connection is transient (retried with backoff), anything else is final.
 */
import http from 'node:http';
import type https from 'node:https';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { OsbError } from '../lib/errors.js';
import { firstBytes } from '../lib/foreign.js';

export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string | number>>;
  /** The body: bytes, or a fresh stream (a retry makes a new one). */
  readonly body?: Buffer | (() => Readable);
}

export interface HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * What came back, for a one-line error: status, content type, and the size and first bytes of
 * the body, printable: `200 OK, text/html, 18 bytes starting '<html>...'`.
 */
export function answerOf(r: HttpResponse, o: { bytes?: boolean; status?: boolean } = {}): string {
  const type = r.headers['content-type'] ? String(r.headers['content-type']).split(';')[0]! : 'no Content-Type';
  const status = o.status === false ? [] : [`${r.status} ${r.statusText}`.trim()];
  const bytes = o.bytes !== false && r.body.length ? [`${r.body.length} bytes starting ${firstBytes(r.body)}`] : [];
  return [...status, type, ...bytes].join(', ');
}

/** A failure worth another attempt: 5xx, or the connection dropped or was refused. */
export class TransientError extends OsbError {}

const DROPPED = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export interface Transport {
  readonly agent: http.Agent;
  readonly ca?: Buffer;
}

/** node:https (and TLS with it), loaded when a registry or endpoint speaks it: ~3 ms of start-up an http registry does not need. */
let https_: typeof https | undefined;
const tls = (): typeof https => (https_ ??= createRequire(import.meta.url)('node:https') as typeof https);

export function makeTransport(secure: boolean, ca?: Buffer): Transport {
  return { agent: secure ? new (tls().Agent)({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true }), ca };
}

/**
 * Send one request and read the whole answer (registry answers to uploads are small). With
 * `sink`, a 200 answer's body goes to it chunk by chunk instead (a blob download) and `body` is
 * empty.
 */
export function send(t: Transport, req: HttpRequest, timeoutMs = 60_000, sink?: (chunk: Buffer) => void): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const mod = req.url.protocol === 'https:' ? tls() : http;
    const body = typeof req.body === 'function' ? req.body() : req.body;
    const headers: Record<string, string | number> = { 'User-Agent': 'osb', ...req.headers };
    if (Buffer.isBuffer(body)) headers['Content-Length'] = body.length;
    else if (!body && !['GET', 'HEAD'].includes(req.method)) headers['Content-Length'] = 0;
    const where = `${req.method} ${req.url.host}${req.url.pathname}`;
    const r = mod.request(req.url, { method: req.method, headers, agent: t.agent }, (res) => {
      const chunks: Buffer[] = [];
      const toSink = sink && res.statusCode === 200;
      res.on('data', (c: Buffer) => (toSink ? sink(c) : chunks.push(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (e) => reject(new TransientError(`connection to ${req.url.host} dropped during ${where}: ${(e as Error).message}`)));
    });
    r.setTimeout(timeoutMs, () => r.destroy(Object.assign(new Error(`no answer in ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    r.on('error', (e: NodeJS.ErrnoException) => {
      if (body && typeof body !== 'string' && !Buffer.isBuffer(body)) body.destroy();
      if (DROPPED.has(e.code ?? '') || /socket hang up/.test(e.message)) reject(new TransientError(`connection to ${req.url.host} failed during ${where}: ${e.code ?? e.message}`));
      else if (/certificate|self.signed|SSL|TLS/i.test(`${e.code} ${e.message}`)) reject(new OsbError(`TLS to ${req.url.host} failed: ${e.message}`, 'give the CA that signed its certificate with --registry-ca FILE'));
      else reject(new OsbError(`request to ${req.url.host} failed: ${e.message}`));
    });
    if (!body) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else {
      body.on('error', (e) => r.destroy(e));
      body.pipe(r);
    }
  });
}

export interface RetryPolicy {
  /** Attempts after the first. @default 4 */
  readonly retries: number;
  /** The first wait, doubled each time. @default 500 */
  readonly baseDelayMs: number;
  readonly onRetry?: (message: string, attempt: number, delayMs: number) => void;
  readonly signal?: AbortSignal;
}

/** Run `op` again after a TransientError, waiting baseDelay·2^n between attempts. */
export async function withRetry<T>(p: RetryPolicy, op: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (!(e instanceof TransientError) || attempt >= p.retries || p.signal?.aborted) {
        if (e instanceof TransientError && attempt > 0) throw new OsbError(`${e.message} (gave up after ${attempt + 1} attempts)`, e.hint ?? 'check that the registry is up and its address is right, then run the command again');
        throw e;
      }
      const delay = p.baseDelayMs * 2 ** attempt;
      p.onRetry?.(e.message, attempt + 1, delay);
      await sleep(delay, undefined, { signal: p.signal }).catch(() => undefined);
    }
  }
}
