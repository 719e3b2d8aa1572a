/**
 * The layer blob in one streaming pass: tar chunks -> sha256 (the diff_id) -> compressor ->
 * sha256 (the blob digest) -> file.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { BuildContext } from '../lib/context.js';
import { sha256File } from '../lib/hash.js';
import { UsageError } from '../lib/errors.js';
import { CHUNK_SIZE, tarChunks, type TarStats } from './tar.js';
import type { TarEntry } from './tree.js';

export type LayerCompression = 'gzip' | 'zstd';
export const LAYER_COMPRESSIONS: readonly LayerCompression[] = ['gzip', 'zstd'];

export const LAYER_MEDIA_TYPE: Readonly<Record<LayerCompression, string>> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export function parseLayerCompression(value: string): LayerCompression {
  if ((LAYER_COMPRESSIONS as readonly string[]).includes(value)) return value as LayerCompression;
  throw new UsageError(`unknown OCI layer compression "${value}"; valid: ${LAYER_COMPRESSIONS.join(', ')}`, `use --oci-compression ${LAYER_COMPRESSIONS.join('|')}`);
}

/**
 * zstd -T0: one worker per core, and the output does not depend on the worker count.
 * gzip: Node's zlib (level 6, as gzip's default), which writes no name and a zero timestamp, and
 * gives the same bytes on every host with the same Node; its deflate ran faster here than GNU gzip.
 */
export function compressorArgv(c: LayerCompression, file: string): string[] | undefined {
  return c === 'zstd' ? ['zstd', '-T0', '-q', '-f', '-o', file] : undefined;
}

export interface LayerResult {
  /** sha256 of the uncompressed tar, `sha256:...`. */
  readonly diffId: string;
  /** sha256 of the blob, `sha256:...`. */
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly entries: number;
  readonly tarBytes: number;
}

const hashing = (h: ReturnType<typeof createHash>) =>
  new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
  });

/** Write the compressed layer of `entries` to `file`. */
export async function writeLayer(ctx: BuildContext, entries: readonly TarEntry[], compression: LayerCompression, file: string): Promise<LayerResult> {
  const diff = createHash('sha256');
  const stats: TarStats = { entries: 0, bytes: 0 };
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of tarChunks(entries, stats, { signal: ctx.signal })) {
      diff.update(chunk);
      yield chunk;
    }
  }
  const source = () => Readable.from(hashed(), { objectMode: false, highWaterMark: CHUNK_SIZE });
  let digest: string;
  const argv = compressorArgv(compression, file);
  if (!argv) {
    const blob = createHash('sha256');
    await pipeline(source(), createGzip({ level: 6 }), hashing(blob), createWriteStream(file), { signal: ctx.signal });
    digest = blob.digest('hex');
  } else {
    await ctx.run.feed(argv, source, { quiet: true });
    digest = await sha256File(file);
  }
  return {
    diffId: `sha256:${diff.digest('hex')}`,
    digest: `sha256:${digest}`,
    size: (await stat(file)).size,
    mediaType: LAYER_MEDIA_TYPE[compression],
    entries: stats.entries,
    tarBytes: stats.bytes,
  };
}
