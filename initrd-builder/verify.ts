/**
 * Read a written initrd back (DESIGN principle 9): decompress it, walk every newc header to the
 * trailer, and count the entries (a zstd one: walk its frames, zstd-frames.ts). File data is
 * skipped, not held, so this is as bounded in memory as writing.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Writable, type Readable, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import type { Compression } from './compress.js';
import { HEADER_SIZE, NEWC_MAGIC, TRAILER_NAME, pad4 } from './newc.js';
import { walkZstdFrames } from './zstd-frames.js';

/** A push parser over the uncompressed archive: counts entries, optionally keeps their names. */
export class NewcReader {
  entries = 0;
  trailer = false;
  readonly names: string[] | undefined;
  private acc: Buffer[] = [];
  private accLen = 0;
  private want = HEADER_SIZE;
  private phase: 'header' | 'name' = 'header';
  private skip = 0;
  private nameSize = 0;
  private fileSize = 0;
  private offset = 0;
  /** Where the header or name being parsed starts, for messages. */
  private pieceStart = 0;

  constructor(keepNames = false) {
    this.names = keepNames ? [] : undefined;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.trailer) {
        // Only zero padding may follow the trailer (GNU cpio pads to 512-byte blocks).
        if (chunk.subarray(at).some((b) => b !== 0)) throw this.bad('data after TRAILER!!!');
        this.offset += chunk.length - at;
        return;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        this.offset += n;
        continue;
      }
      const need = this.want - this.accLen;
      if (this.accLen === 0) this.pieceStart = this.offset;
      if (this.accLen === 0 && chunk.length - at >= need) {
        // The whole header (or name) is in this chunk: parse it in place, no copy.
        at += need;
        this.offset += need;
        this.complete(chunk, at - need);
        continue;
      }
      const n = Math.min(need, chunk.length - at);
      // A copy: the caller may reuse `chunk` before the rest of this header arrives.
      this.acc.push(Buffer.from(chunk.subarray(at, at + n)));
      this.accLen += n;
      at += n;
      this.offset += n;
      if (this.accLen === this.want) this.complete(Buffer.concat(this.acc, this.accLen), 0);
    }
  }

  /** Take the pending data length, for a reader that can seek past it instead of pushing it. */
  takeSkip(): number {
    const n = this.skip;
    this.skip = 0;
    this.offset += n;
    return n;
  }

  /** Throws unless the archive ended with its trailer. */
  end(): void {
    if (!this.trailer) throw this.bad('archive ends before TRAILER!!!');
  }

  /** A header or a name (by phase) is complete at `buf[base..]`. */
  private complete(buf: Buffer, base: number): void {
    this.acc = [];
    this.accLen = 0;
    if (this.phase === 'header') {
      if (buf.toString('latin1', base, base + 6) !== NEWC_MAGIC) throw this.bad('bad newc magic');
      this.fileSize = this.hexField(buf, base, 6);
      this.nameSize = this.hexField(buf, base, 11);
      if (this.nameSize < 1) throw this.bad('empty name');
      this.phase = 'name';
      this.want = this.nameSize + pad4(HEADER_SIZE + this.nameSize);
      return;
    }
    const name = buf.toString('latin1', base, base + this.nameSize - 1);
    this.phase = 'header';
    this.want = HEADER_SIZE;
    if (name === TRAILER_NAME) {
      this.trailer = true;
      return;
    }
    this.entries++;
    this.names?.push(name);
    this.skip = this.fileSize + pad4(this.fileSize);
  }

  /** Header field `i` (0 = ino ... 12 = check): 8 hex digits. */
  private hexField(buf: Buffer, base: number, i: number): number {
    let v = 0;
    for (let at = base + 6 + i * 8, end = at + 8; at < end; at++) {
      const c = buf[at]! | 0x20; // lower-cases letters, leaves digits alone
      const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
      if (digit < 0) throw this.bad(`bad header field ${i}`);
      v = v * 16 + digit;
    }
    return v;
  }

  private bad(what: string): OsbError {
    return new OsbError(`the initrd just written does not read back: ${what} at byte ${this.pieceStart} of the uncompressed archive`, 'this is a bug in osb or a failing disk; please report it with the build log');
  }
}

/**
 * Feed an uncompressed archive file into a reader, window by window: small files' data is read
 * along with their headers, larger data is seeked past, never read.
 */
function readHeadersOnly(path: string, reader: NewcReader): void {
  const fd = openSync(path, 'r');
  const window = Buffer.allocUnsafe(4 * 1024);
  try {
    for (let at = 0; ; ) {
      const n = readSync(fd, window, 0, window.length, at);
      if (n === 0) break;
      reader.push(window.subarray(0, n));
      at += n + reader.takeSkip();
    }
  } finally {
    closeSync(fd);
  }
  reader.end();
}

/** Feed a compressed file through its decompressor into a reader. */
async function readInto(file: Readable, decompress: Transform, reader: NewcReader): Promise<void> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      try {
        reader.push(chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  await pipeline(file, decompress, sink);
  reader.end();
}

/**
 * The encoder's own check reading the stream on stdin (`xz -t -`), for the compressions whose
 * read-back is that check: the initrd can then be checked while it is written. zstd's read-back
 * walks its frames instead (zstd-frames.ts), after zstd wrote the file itself.
 */
export function streamCheck(c: Compression): readonly string[] | undefined {
  return c === 'xz' || c === 'lz4' ? [c, '-t', '-q', '-'] : undefined;
}

/** Options for reading an initrd back. */
export interface ReadBackOptions {
  /** Keep every entry name (for listing). @default false */
  readonly names?: boolean;
}

/**
 * Read the initrd at `path` back. Uncompressed and gzip archives are parsed to the trailer; a zstd
 * one's frames are walked to the end of the file; for xz and lz4 (no decoder in Node 20) the
 * encoder's own `-t` checks the whole stream and its checksum. The last three return `undefined`
 * for the count.
 */
export async function readBack(ctx: BuildContext, path: string, c: Compression, o: ReadBackOptions = {}): Promise<NewcReader | undefined> {
  switch (c) {
    case 'none': {
      const reader = new NewcReader(o.names);
      readHeadersOnly(path, reader);
      return reader;
    }
    case 'gzip': {
      const reader = new NewcReader(o.names);
      const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
      try {
        await readInto(file, createGunzip(), reader);
      } catch (e) {
        if (e instanceof OsbError) throw e;
        throw new OsbError(`the initrd just written does not decompress: ${(e as Error).message}`, 'check free space and the disk, then build again');
      }
      return reader;
    }
    case 'zstd':
      walkZstdFrames(path);
      return undefined;
    case 'xz':
    case 'lz4':
      await ctx.run([c, '-t', '-q', path], { readOnly: true, hint: 'the initrd just written is damaged; check free space and the disk, then build again' });
      return undefined;
  }
}
