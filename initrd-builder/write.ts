/**
 * Send the archive's chunks through the encoder into a file, with backpressure end to end: the
 * generator is only asked for the next chunk when the encoder (or the disk) has taken the last.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import type { Encoder } from './compress.js';
import { CHUNK_SIZE } from './stream.js';

/** Write `chunks`, compressed by `encoder`, to `file`. Returns once `file` is complete and closed. */
export async function writeCompressed(ctx: BuildContext, encoder: Encoder, chunks: AsyncIterable<Buffer>, file: string): Promise<void> {
  const source = Readable.from(chunks, { objectMode: false, highWaterMark: CHUNK_SIZE });
  switch (encoder.kind) {
    case 'none':
      return pipeline(source, createWriteStream(file, { highWaterMark: CHUNK_SIZE }), { signal: ctx.signal });
    case 'zlib':
      return pipeline(source, createGzip({ level: encoder.level }), createWriteStream(file), { signal: ctx.signal });
    case 'tool':
      return throughTool(ctx, encoder.argv, source, file);
  }
}

async function throughTool(ctx: BuildContext, argv: readonly string[], source: Readable, file: string): Promise<void> {
  const encoder = ctx.run.start(argv, { stdoutFile: file, quiet: true });
  // Whatever happens, wait for the encoder to exit before returning: until then it (and the
  // stream execa writes its output through) may still create or write `file`, and the caller
  // removes that file on failure.
  const exited = encoder.done.then(
    () => undefined,
    (e: unknown) => e,
  );
  try {
    await pipeline(source, encoder.stdin);
  } catch (writeError) {
    encoder.stdin.destroy();
    const toolError = await exited;
    // Our own errors (a file changed size, an interrupt) are the cause and win. Anything else
    // here is a symptom (EPIPE, premature close) of a missing or dead encoder, whose own error
    // names the command or the package to install.
    const ours = writeError instanceof OsbError || (writeError as Error).name === 'AbortError';
    throw ours || !toolError ? writeError : toolError;
  }
  const toolError = await exited;
  if (toolError) throw toolError;
}
