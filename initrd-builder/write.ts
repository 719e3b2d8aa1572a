/**
 * Send the archive's chunks through the encoder into a file, with backpressure end to end: the
 * generator is only asked for the next chunk when the encoder (or the disk) has taken the last.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, openSync, writeSync } from 'node:fs';
import { PassThrough, Readable, Writable } from 'node:stream';
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
export async function writeArchive(ctx: BuildContext, encoder: Encoder, plan: () => Promise<readonly PlannedEntry[]>, stats: StreamStats, file: string, verifier?: readonly string[]): Promise<string | undefined> {
  const chunks = (async function* () {
    yield* cpioChunks(await plan(), stats, { signal: ctx.signal, reuse: encoder.kind === 'none' });
  })();
  const source = () => Readable.from(chunks, { objectMode: false, highWaterMark: CHUNK_SIZE });
  switch (encoder.kind) {
    case 'none':
      return void (await writeUncompressed(chunks, file));
    case 'zlib':
      return void (await pipeline(source(), createGzip({ level: encoder.level }), createWriteStream(file), { signal: ctx.signal }));
    case 'tool':
      if (verifier) return writeChecked(ctx, encoder.stdoutArgv, verifier, source, file);
      await ctx.run.feed(encoderArgv(encoder, file), source, { stdoutFile: encoder.fileArg ? undefined : file, quiet: true });
      return undefined;
  }
}

/**
 * The encoder's output taken by osb as it comes: written to `file`, hashed, and fed to
 * `verifier` (the encoder's own `-t` reading stdin), so the read-back and the digest are done
 * when the last byte is written, not after. Returns the file's sha256.
 */
async function writeChecked(ctx: BuildContext, argv: readonly string[], verifier: readonly string[], source: () => Readable, file: string): Promise<string> {
  const fd = openSync(file, 'w');
  const hash = createHash('sha256');
  const toVerifier = new PassThrough({ highWaterMark: 1 << 20 });
  const tee = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      try {
        for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
      } catch (e) {
        return cb(e as Error);
      }
      hash.update(chunk);
      if (toVerifier.destroyed || toVerifier.write(chunk)) return cb();
      // Wait for the verifier to take it, or to be gone (its failure is reported below).
      const done = () => {
        toVerifier.off('drain', done).off('close', done);
        cb();
      };
      toVerifier.on('drain', done).on('close', done);
    },
    final(cb) {
      toVerifier.end();
      cb();
    },
  });
  // A verifier that stopped early fails `checked`; its input stream's own error says nothing more.
  toVerifier.on('error', () => undefined);
  // The output failed (a full disk, the compressor gone): the verifier's input ends too, or it
  // would wait for the rest forever.
  tee.on('close', () => {
    if (!toVerifier.writableEnded) toVerifier.destroy();
  });
  const hint = 'the initrd just written is damaged; check free space and the disk, then build again';
  const checked = ctx.run.feed(verifier, () => toVerifier, { quiet: true, hint });
  try {
    // Both are waited for, whatever fails: neither process may outlive the temporary file.
    const [written, read] = await Promise.allSettled([ctx.run.feed(argv, source, { stdoutTo: tee, quiet: true }), checked]);
    if (written.status === 'rejected') throw written.reason;
    if (read.status === 'rejected') throw read.reason;
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
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
