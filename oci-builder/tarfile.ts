/** An uncompressed, reproducible tar of a directory tree (the runtime bundle's tarball). */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BuildContext } from '../lib/context.js';
import { CHUNK_SIZE, tarChunks, type TarStats } from './tar.js';
import { walkTree } from './tree.js';
import { readXattrs } from './xattrs.js';

export async function writeTar(ctx: BuildContext, dir: string, file: string): Promise<TarStats> {
  const entries = walkTree(dir, { sourceDateEpoch: ctx.sourceDateEpoch, warn: (m) => ctx.log.warn(m), signal: ctx.signal });
  const xattrs = await readXattrs(ctx, dir);
  for (const e of entries) if (e.kind !== 'hardlink') e.xattrs = xattrs.get(e.name);
  const stats: TarStats = { entries: 0, bytes: 0 };
  await pipeline(Readable.from(tarChunks(entries, stats, { signal: ctx.signal }), { objectMode: false, highWaterMark: CHUNK_SIZE }), createWriteStream(file), { signal: ctx.signal });
  return stats;
}
