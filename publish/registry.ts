/**
 * osb's push client for the OCI distribution spec
 * (https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-blobs):
 * HEAD to skip blobs the registry has, cross-repository mount, monolithic or chunked uploads,
 * and the manifest last, so a failed push never leaves a tag pointing at missing blobs.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { OsbError } from '../lib/errors.js';
import { parseJsonObject } from '../lib/foreign.js';
import type { RegistryTarget } from '../oci-builder/reference.js';
import type { Reporter } from '../lib/log.js';
import { basicHeader, parseChallenge, type Credentials } from './auth.js';
import { answerOf, makeTransport, send, TransientError, withRetry, type HttpRequest, type HttpResponse, type RetryPolicy, type Transport } from './http.js';

/** A multi-platform image: OCI's index and Docker's manifest list. */
export const INDEX = 'application/vnd.oci.image.index.v1+json';
export const MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Read blobs 1 MiB at a time: a quarter fewer syscalls and socket writes than the 64 KiB default. */
const READ_CHUNK = 1 << 20;

/** `HOST[:PORT]/REPO` (a tag is given with --tag, not here): the grammar is oci-builder/reference.ts's. */
export { parseRegistryTarget, type RegistryTarget } from '../oci-builder/reference.js';

export interface PushOptions extends RegistryTarget {
  /** Plain HTTP (only when the user asked for it). @default false */
  readonly insecure?: boolean;
  /** PEM CA bundle the registry's certificate must chain to. */
  readonly ca?: Buffer;
  readonly credentials?: Credentials;
  /** Upload blobs in PATCH chunks of this many bytes; 0 sends each in one PUT. @default 0 */
  readonly chunkSize?: number;
  /** Try a cross-repository mount from this repository on the same registry first. */
  readonly mountFrom?: string;
  readonly retry?: Partial<RetryPolicy>;
  /** What the Bearer token is asked for on this repository. @default 'pull,push' */
  readonly access?: 'pull' | 'pull,push';
  readonly log: Reporter;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface PushStats {
  pushed: number;
  skipped: number;
  mounted: number;
}

/**
 * The registry's error code from a distribution-spec error body (` MANIFEST_UNKNOWN: ...`); for
 * any other body (a proxy's HTML page), its content type and first bytes.
 */
const errorOf = (r: HttpResponse): string => {
  try {
    const e = (JSON.parse(r.body.toString('utf8')) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    if (e && typeof e === 'object') return ` ${e.code ?? ''}${e.message ? `: ${String(e.message).split('\n')[0]}` : ''}`;
  } catch {
    // not the registry's error document: say what it was
  }
  return r.body.length ? ` (${answerOf(r, { status: false })})` : '';
};

export class RegistryClient {
  private readonly base: URL;
  private readonly t: Transport;
  private readonly policy: RetryPolicy;
  private auth: string | undefined;
  readonly stats: PushStats = { pushed: 0, skipped: 0, mounted: 0 };

  constructor(private readonly o: PushOptions) {
    this.base = new URL(`${o.insecure ? 'http' : 'https'}://${o.host}/`);
    this.t = makeTransport(!o.insecure, o.ca);
    // One line when the retries start (and one more only if the failure changes), not one per
    // attempt; the final error, if it comes to that, says how many attempts were made.
    let last = '';
    const onRetry = (m: string, n: number, d: number) => {
      if (m === last) return;
      last = m;
      const left = this.policy.retries - n + 1;
      o.log.info(`${m}; retrying ${left} more time${left === 1 ? '' : 's'} (next in ${(d / 1000).toFixed(1)} s)`);
    };
    this.policy = { retries: 4, baseDelayMs: 500, onRetry, ...o.retry };
  }

  private url(path: string): URL {
    return new URL(path, this.base);
  }

  /** A registry error as one line: what was asked, the status, the registry's error code. */
  private fail(what: string, r: HttpResponse): OsbError {
    const line = `${what}: ${r.status} ${r.statusText}${errorOf(r)}`;
    if (r.status >= 500) return new TransientError(`registry ${this.o.host} ${line}`);
    if (r.status === 401) return new OsbError(`registry ${this.o.host} refused the credentials for ${this.o.repo} (${line})`, this.o.credentials ? 'check --creds or the auth file entry for this registry' : 'log in (podman login / docker login) or give --creds USER:PASSWORD');
    if (r.status === 403) return new OsbError(`registry ${this.o.host} denied ${what} (${r.status} ${r.statusText}${errorOf(r)})`, `the account needs push rights on ${this.o.repo}`);
    return new OsbError(`registry ${this.o.host} ${line}`, r.status === 404 && what === 'GET /v2/' ? `check that ${this.o.host} is an OCI registry: one answers GET /v2/ with 200 or 401` : undefined);
  }

  /** A JSON document the protocol promises (a manifest, a token), or one line saying what came instead. */
  private json<T extends object>(what: string, r: HttpResponse, host = this.o.host): T {
    return parseJsonObject<T>(r.body, `registry ${host} answered ${what} with ${answerOf(r, { bytes: false })}, which`, `check that ${host} is an OCI registry and the repository ${this.o.repo} is right: a web server or proxy may be answering in its place`);
  }

  /**
   * A request with the current Authorization; on 401, answer the challenge once and resend. An
   * upload Location on another origin (a registry handing uploads to its storage) gets no
   * credentials: they are the registry's, not that host's.
   */
  private async call(req: HttpRequest, sink?: (chunk: Buffer) => void): Promise<HttpResponse> {
    const own = req.url.origin === this.base.origin;
    const t = own ? this.t : this.foreign(req.url);
    const go = () => send(t, { ...req, headers: { ...req.headers, ...(this.auth && own ? { Authorization: this.auth } : {}) } }, undefined, sink);
    const sent = this.auth;
    let r = await go();
    // Requests run side by side: a 401 to one sent before another answered the challenge is sent
    // again with that answer, and challenges met together are answered once.
    if (r.status === 401 && (this.auth !== sent || (await (this.answering ??= this.authenticate(r).finally(() => (this.answering = undefined)))))) r = await go();
    return r;
  }

  private answering: Promise<boolean> | undefined;

  /** Set the Authorization from a 401's WWW-Authenticate: Basic with the credentials, or a Bearer token. */
  private async authenticate(r: HttpResponse): Promise<boolean> {
    const c = parseChallenge(r.headers['www-authenticate'] as string | undefined);
    if (!c) return false;
    if (c.scheme === 'basic') {
      if (!this.o.credentials) throw this.fail('authentication', r);
      const h = basicHeader(this.o.credentials);
      if (this.auth === h) return false;
      this.auth = h;
      return true;
    }
    const realm = c.params.realm;
    if (!realm) throw new OsbError(`registry ${this.o.host} sent a Bearer challenge without a realm`);
    const u = new URL(realm);
    if (c.params.service) u.searchParams.set('service', c.params.service);
    const scopes = [`repository:${this.o.repo}:${this.o.access ?? 'pull,push'}`, ...(this.o.mountFrom ? [`repository:${this.o.mountFrom}:pull`] : [])];
    for (const s of scopes) u.searchParams.append('scope', s);
    const tr = u.protocol === 'https:' ? makeTransport(true, this.o.ca) : makeTransport(false);
    const tok = await send(tr, { method: 'GET', url: u, headers: this.o.credentials ? { Authorization: basicHeader(this.o.credentials) } : {} }).finally(() => tr.agent.destroy());
    if (tok.status >= 500) throw new TransientError(`token server ${u.host} GET ${u.pathname}: ${tok.status} ${tok.statusText}`);
    if (tok.status !== 200) throw new OsbError(`token server ${u.host} refused the credentials for ${this.o.repo} (GET ${u.pathname}: ${tok.status} ${tok.statusText})`, this.o.credentials ? 'check --creds or the auth file entry for this registry' : 'log in (podman login / docker login) or give --creds USER:PASSWORD');
    const body = this.json<{ token?: unknown; access_token?: unknown }>(`GET ${u.pathname} (a token)`, tok, u.host);
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new OsbError(`token server ${u.host} answered without a token`);
    const h = `Bearer ${token}`;
    if (this.auth === h) return false;
    this.auth = h;
    return true;
  }

  private readonly others = new Map<string, Transport>();
  private foreign(u: URL): Transport {
    if (u.protocol === 'http:' && !this.o.insecure) throw new OsbError(`registry ${this.o.host} sent an upload to plain-HTTP ${u.origin}`, 'pass --insecure-registry only if you trust that host');
    let t = this.others.get(u.origin);
    if (!t) this.others.set(u.origin, (t = makeTransport(u.protocol === 'https:', this.o.ca)));
    return t;
  }

  /** Close the kept-alive connections. */
  close(): void {
    this.t.agent.destroy();
    for (const t of this.others.values()) t.agent.destroy();
  }

  /** GET /v2/: the registry speaks the API, and the credentials are good (before any upload). */
  async ping(): Promise<void> {
    await withRetry(this.policy, async () => {
      const r = await this.call({ method: 'GET', url: this.url('/v2/') });
      if (r.status !== 200) throw this.fail('GET /v2/', r);
    });
  }

  /**
   * Push one blob (a file, or bytes) unless the registry has it; the whole exchange is retried as
   * one operation. `ready` (the GET /v2/ sent beside) is waited for before an upload starts.
   */
  /** `underway` is called once the blob needs nothing more before its bytes go (its upload is sent, or it is there already). */
  async pushBlob(d: Descriptor, path: string | Buffer, o: { probe?: boolean; ready?: Promise<unknown>; underway?: () => void } = {}): Promise<void> {
    const part = (start: number, end: number) => (typeof path === 'string' ? () => createReadStream(path, { start, end, highWaterMark: READ_CHUNK }) : path.subarray(start, end + 1));
    const repo = this.o.repo;
    await withRetry(this.policy, async () => {
      // probe: false (a few hundred bytes of signature) sends it again rather than ask first.
      if (o.probe !== false) {
        const head = await this.call({ method: 'HEAD', url: this.url(`/v2/${repo}/blobs/${d.digest}`) });
        if (head.status === 200) return void (this.stats.skipped++, o.underway?.());
        // A server error says nothing about the blob: a registry killed while it committed one
        // answers 500 for it until it is written again, which the upload does.
        if (head.status !== 404 && head.status < 500) throw this.fail(`HEAD blob ${d.digest}`, head);
      }
      // The registry's GET /v2/, when it runs beside: nothing is uploaded before it answered.
      await o.ready;
      const post = this.url(`/v2/${repo}/blobs/uploads/`);
      if (this.o.mountFrom) {
        post.searchParams.set('mount', d.digest);
        post.searchParams.set('from', this.o.mountFrom);
      }
      const start = await this.call({ method: 'POST', url: post });
      if (start.status === 201 && this.o.mountFrom) return void (this.stats.mounted++, o.underway?.());
      if (start.status !== 202) throw this.fail(`POST upload of ${d.digest}`, start);
      let location = this.location(start);
      const chunk = this.o.chunkSize ?? 0;
      o.underway?.();
      if (chunk > 0) {
        for (let off = 0; off < d.size; off += chunk) {
          const end = Math.min(d.size, off + chunk) - 1;
          const r = await this.call({
            method: 'PATCH',
            url: location,
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${end}`, 'Content-Length': end - off + 1 },
            body: part(off, end),
          });
          if (r.status === 416) throw new TransientError(`registry ${this.o.host} lost the upload of ${d.digest} at byte ${off} (416 Range Not Satisfiable)`);
          if (r.status !== 202) throw this.fail(`PATCH chunk ${off}-${end} of ${d.digest}`, r);
          location = this.location(r);
        }
        location.searchParams.set('digest', d.digest);
        const put = await this.call({ method: 'PUT', url: location });
        if (put.status !== 201) throw this.fail(`PUT end of upload ${d.digest}`, put);
      } else {
        location.searchParams.set('digest', d.digest);
        const put = await this.call({ method: 'PUT', url: location, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': d.size }, body: typeof path === 'string' ? () => createReadStream(path, { highWaterMark: READ_CHUNK }) : path });
        if (put.status !== 201) throw this.fail(`PUT blob ${d.digest}`, put);
      }
      this.stats.pushed++;
    });
  }

  private location(r: HttpResponse): URL {
    const l = r.headers.location;
    if (!l) throw new OsbError(`registry ${this.o.host} answered ${r.status} without a Location header`);
    return new URL(l, this.base);
  }

  /**
   * GET a manifest by tag or digest, accepting OCI and Docker v2 single-platform manifests. The
   * bytes are returned as sent; their sha256 is checked against a digest reference and against the
   * Docker-Content-Digest the registry names.
   */
  async pullManifest(ref: string, o: { index?: boolean } = {}): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const accept = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', ...(o.index ? [INDEX, MANIFEST_LIST] : [])].join(', ');
    return withRetry(this.policy, async () => {
      const r = await this.call({ method: 'GET', url: this.url(`/v2/${this.o.repo}/manifests/${ref}`), headers: { Accept: accept } });
      if (r.status !== 200) throw this.fail(`GET manifest ${ref}`, r);
      const digest = `sha256:${createHash('sha256').update(r.body).digest('hex')}`;
      const named = ref.startsWith('sha256:') ? ref : (r.headers['docker-content-digest'] as string | undefined);
      if (named && named !== digest) throw new OsbError(`registry ${this.o.host} sent manifest ${this.o.repo}@${ref} whose sha256 is ${digest}, not ${named}`, 'the registry or a proxy altered it; refusing to use it');
      const doc = this.json<{ mediaType?: unknown }>(`GET manifest ${ref}`, r);
      const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : String(r.headers['content-type'] ?? '');
      return { bytes: r.body, mediaType, digest };
    });
  }

  /** GET a blob into `sink`, following the registry's redirects to its storage (at most 5). */
  private async getBlob(d: Descriptor, sink: (chunk: Buffer) => void): Promise<void> {
    let url = this.url(`/v2/${this.o.repo}/blobs/${d.digest}`);
    let r = await this.call({ method: 'GET', url }, sink);
    for (let hops = 0; [301, 302, 303, 307, 308].includes(r.status) && hops < 5; hops++) {
      url = this.location(r);
      r = await this.call({ method: 'GET', url }, sink);
    }
    if (r.status !== 200) throw this.fail(`GET blob ${d.digest}`, r);
  }

  /** What came is what the descriptor names, or one line saying it is not. */
  private checkBlob(d: Descriptor, size: number, got: string): void {
    if (got !== d.digest || size !== d.size) throw new OsbError(`registry ${this.o.host} sent blob ${d.digest} of ${this.o.repo} as ${size} bytes with sha256 ${got}`, 'the stored blob is corrupt or was replaced; refusing to use it');
  }

  /**
   * GET a blob (following the registry's redirect to its storage) into `file`, streamed, and check
   * its size and sha256; a mismatch removes the file.
   */
  async pullBlob(d: Descriptor, file: string): Promise<void> {
    const { openSync, writeSync, closeSync, rmSync } = await import('node:fs');
    await withRetry(this.policy, async () => {
      const fd = openSync(file, 'w');
      const h = createHash('sha256');
      let size = 0;
      const sink = (c: Buffer) => {
        h.update(c);
        size += c.length;
        writeSync(fd, c);
      };
      let ok = false;
      try {
        await this.getBlob(d, sink);
        this.checkBlob(d, size, `sha256:${h.digest('hex')}`);
        ok = true;
      } finally {
        closeSync(fd);
        if (!ok) rmSync(file, { force: true });
      }
    });
  }

  /**
   * GET a small blob (a signature payload, an attestation) into memory: refused unless the
   * descriptor says at most `max` bytes, and checked against its size and sha256.
   */
  async blobBytes(d: Descriptor, max: number): Promise<Buffer> {
    if (!(Number.isInteger(d.size) && d.size >= 0 && d.size <= max)) throw new OsbError(`registry ${this.o.host} lists blob ${String(d.digest).slice(0, 80)} of ${this.o.repo} as ${String(d.size).slice(0, 20)} bytes; osb reads at most ${max} for a signature or attestation`);
    return withRetry(this.policy, async () => {
      const chunks: Buffer[] = [];
      let size = 0;
      const sink = (c: Buffer) => {
        size += c.length;
        if (size <= max) chunks.push(c);
      };
      await this.getBlob(d, sink);
      const bytes = Buffer.concat(chunks);
      this.checkBlob(d, size, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      return bytes;
    });
  }

  /** HEAD a manifest by tag or digest: its digest when the registry has it, undefined on 404. */
  async headManifest(ref: string): Promise<string | undefined> {
    const accept = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');
    return withRetry(this.policy, async () => {
      const r = await this.call({ method: 'HEAD', url: this.url(`/v2/${this.o.repo}/manifests/${ref}`), headers: { Accept: accept } });
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw this.fail(`HEAD manifest ${ref}`, r);
      return String(r.headers['docker-content-digest'] ?? '') || ref;
    });
  }

  /** PUT the manifest under `ref` (a tag); the registry must echo its digest. */
  async pushManifest(bytes: Buffer, mediaType: string, ref: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await withRetry(this.policy, async () => {
      const r = await this.call({ method: 'PUT', url: this.url(`/v2/${this.o.repo}/manifests/${ref}`), headers: { 'Content-Type': mediaType }, body: bytes });
      if (r.status !== 201) throw this.fail(`PUT manifest ${ref}`, r);
      const echoed = r.headers['docker-content-digest'];
      if (echoed && echoed !== digest) throw new OsbError(`registry ${this.o.host} stored manifest ${ref} as ${String(echoed)}, not ${digest}`, 'the registry rewrote the manifest; push to another registry');
    });
    return digest;
  }
}
