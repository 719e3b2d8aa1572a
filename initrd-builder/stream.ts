/**
 * Produce the archive bytes as a stream of chunks. Memory stays bounded whatever the rootfs size:
 * file data is read in pieces straight into the current chunk, and the consumer pulls chunks
 * (a Readable built from this generator only asks for more when the compressor keeps up).
 *
 * File reads are synchronous on purpose: a rootfs is mostly small files from the page cache,
 * where each asynchronous open/read/close would cost a thread-pool round trip larger than the
 * read itself. The event loop still runs between chunks, so the pipe to the compressor drains and
 * an interrupt is seen within one chunk.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { OsbError } from '../lib/errors.js';
import { displayName, headerLength, pad4, trailerHeader, writeHeader } from './newc.js';
import type { PlannedEntry } from './plan.js';

/** Chunk size: big enough to amortise per-chunk costs, small enough to keep the compressor fed. */
export const CHUNK_SIZE = 256 * 1024;

/** What the stream counted, filled in as it goes. */
export interface StreamStats {
  entries: number;
  bytes: number;
}

/**
 * A chunk being filled. `take()` hands it out and starts a fresh one, since handed-out chunks
 * may still sit in a stream's queue; with `reuse` the consumer has promised to be done with each
 * chunk before it asks for the next, and the one buffer is refilled (no page faults for fresh
 * memory on every chunk).
 */
class Chunk {
  buf = Buffer.allocUnsafe(CHUNK_SIZE);
  pos = 0;
  constructor(private readonly reuse: boolean) {}
  get room(): number {
    return this.buf.length - this.pos;
  }
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    if (!this.reuse) this.buf = Buffer.allocUnsafe(CHUNK_SIZE);
    this.pos = 0;
    return out;
  }
  zeros(n: number): void {
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
}

function changedSize(path: Buffer | string, expected: number, grew: boolean): OsbError {
  return new OsbError(
    `${displayName(path)} changed size while it was archived (expected ${expected} bytes, it ${grew ? 'grew' : 'shrank'})`,
    'something is still writing into the rootfs; stop it (or wait for it) and build the initrd again',
  );
}

/**
 * Copy exactly `size` bytes of `path` into chunks, yielding each full chunk. A file that is not
 * `size` bytes any more (it changed since the scan, or changes while read) is an error: the
 * header with its size is already written, so the archive would be corrupt.
 */
function* fileData(path: Buffer | string, size: number, chunk: Chunk): Generator<Buffer> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new OsbError(`cannot read ${displayName(path)}: ${(e as NodeJS.ErrnoException).code}`, 'check that the rootfs is complete and readable');
  }
  try {
    let left = size;
    // The end of the file must come right after `size` bytes, or it grew after its size went into
    // the header. The last read asks for one byte more when the chunk has room for it: a regular
    // file's short read is its end, so most files need no read of their own to show it.
    let ended = false;
    while (left > 0) {
      if (chunk.room === 0) yield chunk.take();
      const ask = Math.min(left + 1, chunk.room);
      const n = readSync(fd, chunk.buf, chunk.pos, ask, null);
      if (n === 0) throw changedSize(path, size, false);
      if (n > left) throw changedSize(path, size, true);
      ended = n === left && ask > left;
      chunk.pos += n;
      left -= n;
    }
    if (!ended && readSync(fd, Buffer.allocUnsafe(1), 0, 1, null) !== 0) throw changedSize(path, size, true);
  } finally {
    closeSync(fd);
  }
}

/** Put `bytes` into chunks, yielding each one that fills up. */
function* put(bytes: Buffer, chunk: Chunk): Generator<Buffer> {
  let at = 0;
  while (at < bytes.length) {
    if (chunk.room === 0) yield chunk.take();
    const n = bytes.copy(chunk.buf, chunk.pos, at, Math.min(bytes.length, at + chunk.room));
    chunk.pos += n;
    at += n;
  }
}

export interface ChunkOptions {
  readonly signal?: AbortSignal;
  /** The consumer is done with each chunk before it asks for the next (e.g. writes it synchronously). @default false */
  readonly reuse?: boolean;
}

/**
 * The whole archive, entry by entry, ending with TRAILER!!!. `stats` is updated as chunks are
 * produced; after the generator finishes it holds the totals.
 */
export async function* cpioChunks(plan: readonly PlannedEntry[], stats: StreamStats, o: ChunkOptions = {}): AsyncGenerator<Buffer> {
  const { signal } = o;
  const chunk = new Chunk(o.reuse ?? false);
  const emit = (b: Buffer) => {
    // Checked per chunk too: one big file can take seconds.
    if (signal?.aborted) throw signal.reason;
    stats.bytes += b.length;
    return b;
  };
  for (const { header, entry } of [...plan, { header: trailerHeader(), entry: undefined }]) {
    if (signal?.aborted) throw signal.reason;
    const hlen = headerLength(header.name);
    if (hlen <= chunk.room) {
      chunk.pos = writeHeader(chunk.buf, chunk.pos, header);
    } else {
      const hbuf = Buffer.allocUnsafe(hlen);
      writeHeader(hbuf, 0, header);
      for (const full of put(hbuf, chunk)) yield emit(full);
    }
    if (header.filesize > 0 && entry) {
      if (entry.target) for (const full of put(entry.target, chunk)) yield emit(full);
      else for (const full of fileData(entry.path!, header.filesize, chunk)) yield emit(full);
      const padding = pad4(header.filesize);
      if (padding > chunk.room) yield emit(chunk.take());
      chunk.zeros(padding);
    }
    if (entry) stats.entries++; // the trailer is not an entry a reader lists
  }
  if (chunk.pos > 0) yield emit(chunk.take());
}
