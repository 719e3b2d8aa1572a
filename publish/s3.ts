/**
 * --publish-s3: the boot artefacts to an S3 bucket with the AWS SDK v3, under
 * `<prefix><name>/<tag>/<arch>/`, with an index of their sha256 sums uploaded last (so an
 * interrupted upload leaves no index that names a missing or partial file).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OsbError } from '../lib/errors.js';
import { firstBytes } from '../lib/foreign.js';
import type { Reporter } from '../lib/log.js';

export interface S3Artifact {
  /** The object's file name under the key prefix (rootfs.squashfs, vmlinuz, initrd.img, ...). */
  readonly name: string;
  readonly path: string;
  /** image-build's layout: the object's whole key for a tag (no NAME/TAG/ARCH/ prefix, no index). */
  readonly keyFor?: (tag: string) => string;
}

export interface S3Options {
  readonly endpoint: string;
  readonly bucket: string;
  /** Prepended as is (image-build's s3_prefix): "images/" or "" . @default '' */
  readonly prefix?: string;
  /** Image name and tags: `<prefix><name>/<tag>/<arch>/`. */
  readonly name: string;
  readonly tags: readonly string[];
  readonly arch: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** @default us-east-1 */
  readonly region?: string;
  readonly artifacts: readonly S3Artifact[];
  readonly dryRun?: boolean;
  readonly log: Reporter;
}

export interface S3Index {
  readonly name: string;
  readonly tag: string;
  readonly arch: string;
  readonly files: Readonly<Record<string, { sha256: string; size: number }>>;
}

export const s3KeyPrefix = (o: Pick<S3Options, 'prefix' | 'name' | 'arch'>, tag: string): string => `${o.prefix ?? ''}${o.name}/${tag}/${o.arch}/`;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** What the endpoint last answered, raw (status, content type, body), kept by a middleware for error lines. */
interface RawAnswer {
  readonly status: number;
  readonly type: string;
  readonly body: Buffer;
}

const describeAnswer = (a: RawAnswer): string => `${a.status}, ${a.type || 'no Content-Type'}${a.body.length ? `, ${a.body.length} bytes starting ${firstBytes(a.body)}` : ''}`;
const NOT_S3_HINT = 'check --publish-s3: it must be the S3 API endpoint; a web server or proxy may be answering in its place';

/**
 * The SDK's error as one line: `403 SignatureDoesNotMatch: ...` for an S3 error; for an answer
 * that is not S3's (an HTML page, garbage), what came back; for no answer, the connection error.
 */
function s3Error(e: unknown, what: string, endpoint: string, answer: RawAnswer | undefined): OsbError {
  const x = e as { name?: string; Code?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
  const status = x.$metadata?.httpStatusCode;
  const code = x.Code ?? x.name ?? 'Error';
  const known = x.Code !== undefined || !['Error', 'Unknown', 'UnknownError', 'SyntaxError', 'TypeError'].includes(code);
  if (!answer || status === undefined) {
    const attempts = x.$metadata?.attempts;
    const why = (x.message ?? code).split('\n')[0]!.replace(/^AWS SDK error wrapper for /, '').replace(/^Error: /, '');
    return new OsbError(`S3 endpoint ${endpoint} did not answer the ${what} (${why}${attempts && attempts > 1 ? `, after ${attempts} attempts` : ''})`, 'check --publish-s3 (the endpoint URL) and that the server is up');
  }
  if (!known || /Deserialization error|parse error/i.test(x.message ?? '')) return new OsbError(`S3 endpoint ${endpoint} answered the ${what} with ${describeAnswer(answer)}, which is not an S3 answer`, NOT_S3_HINT);
  const hint = status === 403 ? 'check S3_ACCESS/S3_SECRET (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)' : status === 404 ? 'check s3_bucket (the bucket must exist)' : undefined;
  return new OsbError(`S3 ${what} failed: ${status ?? ''} ${code}${x.message && x.message !== code ? `: ${x.message.split('\n')[0]}` : ''}`.replace(/failed:\s+/, 'failed: '), hint);
}

export async function publishS3(o: S3Options): Promise<{ keys: string[]; index: S3Index[] }> {
  const files: Record<string, { sha256: string; size: number }> = {};
  // A dry run reads nothing: the plan may build the artefacts first.
  for (const a of o.dryRun ? [] : o.artifacts) {
    const st = await stat(a.path).catch(() => undefined);
    if (!st) throw new OsbError(`nothing to upload: ${a.path} does not exist`, 'build it first, or drop --no-deps');
    files[a.name] = { sha256: await sha256File(a.path), size: st.size };
  }
  const flat = o.artifacts.every((a) => a.keyFor);
  if (o.dryRun && flat) {
    for (const t of o.tags) for (const a of o.artifacts) o.log.info(`would upload ${a.path} to ${o.endpoint} s3://${o.bucket}/${a.keyFor!(t)}`);
    return { keys: [], index: [] };
  }
  if (o.dryRun) {
    for (const t of o.tags) o.log.info(`would upload ${o.artifacts.map((a) => a.name).join(', ')} and index.json to ${o.endpoint} s3://${o.bucket}/${s3KeyPrefix(o, t)}`);
    return { keys: [], index: [] };
  }
  // osb pins the SDK (package.json) to versions that run on Node 20; the SDK's warning that later
  // versions will need Node 22 is about versions osb does not use, so it would only alarm users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client({
    endpoint: o.endpoint,
    region: o.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: o.accessKey, secretAccessKey: o.secretKey },
    // The SDK's default (WHEN_SUPPORTED) streams bodies as aws-chunked with a trailing checksum,
    // which S3-compatible servers refuse (Swift: 501) or store with the framing (OCI-NOTES, section 4).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
  });
  // Keep each raw answer (bodies of PUT answers are small): the error line says what came back.
  let answer: RawAnswer | undefined;
  client.middlewareStack.add(
    (next) => async (args) => {
      answer = undefined;
      const out = await next(args);
      const res = out.response as { statusCode?: number; headers?: Record<string, string>; body?: unknown };
      const chunks: Buffer[] = [];
      if (res.body && typeof (res.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
        for await (const c of res.body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
        res.body = Readable.from([Buffer.concat(chunks)]);
      }
      answer = { status: res.statusCode ?? 0, type: String(res.headers?.['content-type'] ?? '').split(';')[0]!, body: Buffer.concat(chunks) };
      return out;
    },
    { step: 'deserialize', priority: 'low', name: 'osbRawAnswer' },
  );
  /** S3 answers every PUT with the object's ETag: a 200 without one came from something else. */
  const checkEtag = (etag: unknown, what: string) => {
    if (!etag && answer) throw new OsbError(`S3 endpoint ${o.endpoint} answered the ${what} with ${describeAnswer(answer)}, which is not an S3 answer (no ETag)`, NOT_S3_HINT);
  };
  const keys: string[] = [];
  const indexes: S3Index[] = [];
  try {
    for (const tag of o.tags) {
      const base = s3KeyPrefix(o, tag);
      for (const a of o.artifacts) {
        const key = a.keyFor ? a.keyFor(tag) : base + a.name;
        const up = new Upload({ client, params: { Bucket: o.bucket, Key: key, Body: createReadStream(a.path), ContentLength: files[a.name]!.size, Metadata: { sha256: files[a.name]!.sha256 } }, partSize: 5 * 1024 * 1024, queueSize: 2 });
        let done: { ETag?: string };
        try {
          done = await up.done();
        } catch (e) {
          throw s3Error(e, `upload of ${key}`, o.endpoint, answer);
        }
        checkEtag(done.ETag, `upload of ${key}`);
        keys.push(key);
      }
      if (flat) {
        o.log.info(`published ${keys.slice(-o.artifacts.length).join(', ')} to s3://${o.bucket} (${o.endpoint})`);
        continue;
      }
      const index: S3Index = { name: o.name, tag, arch: o.arch, files };
      const sums = Object.entries(files).map(([n, f]) => `${f.sha256}  ${n}\n`).join('');
      for (const [n, body, type] of [['SHA256SUMS', sums, 'text/plain'], ['index.json', JSON.stringify(index, null, 2) + '\n', 'application/json']] as const) {
        let put: { ETag?: string };
        try {
          put = await client.send(new PutObjectCommand({ Bucket: o.bucket, Key: base + n, Body: body, ContentType: type }));
        } catch (e) {
          throw s3Error(e, `upload of ${base + n}`, o.endpoint, answer);
        }
        checkEtag(put.ETag, `upload of ${base + n}`);
        keys.push(base + n);
      }
      indexes.push(index);
      o.log.info(`published ${o.artifacts.map((a) => a.name).join(', ')} to s3://${o.bucket}/${base} (${o.endpoint})`);
    }
  } finally {
    client.destroy();
  }
  return { keys, index: indexes };
}
