/**
 * Send the archive's chunks through the encoder into a file, with backpressure end to end: the
 * generator is only asked for the next chunk when the encoder (or the disk) has taken the last.
 */
import { closeSync, createWriteStream, openSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { BuildContext } from '../lib/context.js';
import { encoderArgv, type Encoder } from './compress.js';
import type { PlannedEntry } from './plan.js';
import { CHUNK_SIZE, cpioChunks, type StreamStats } from './stream.js';

/**
 * Write the archive of what `plan` gives, compressed by `encoder`, to `file`. A compressing tool
 * is started before `plan` is asked for, so it is ready when the first chunk comes. Returns once
 * `file` is complete and closed.
 */
export async function writeArchive(ctx: BuildContext, encoder: Encoder, plan: () => Promise<readonly PlannedEntry[]>, stats: StreamStats, file: string): Promise<void> {
  const chunks = (async function* () {
    yield* cpioChunks(await plan(), stats, { signal: ctx.signal, reuse: encoder.kind === 'none' });
  })();
  const source = () => Readable.from(chunks, { objectMode: false, highWaterMark: CHUNK_SIZE });
  switch (encoder.kind) {
    case 'none':
      return writeUncompressed(chunks, file);
    case 'zlib':
      return pipeline(source(), createGzip({ level: encoder.level }), createWriteStream(file), { signal: ctx.signal });
    case 'tool':
      await ctx.run.feed(encoderArgv(encoder, file), source, { stdoutFile: encoder.fileArg ? undefined : file, quiet: true });
      return;
  }
}

/**
 * No encoder: write each chunk as it comes, synchronously (so the chunk's buffer can be reused).
 * A local file takes a chunk at once; the streams machinery would only add a thread-pool round
 * trip per chunk.
 */
async function writeUncompressed(chunks: AsyncIterable<Buffer>, file: string): Promise<void> {
  const fd = openSync(file, 'w');
  try {
    for await (const chunk of chunks) {
      for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
    }
  } finally {
    closeSync(fd);
  }
}
