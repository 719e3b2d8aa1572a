/**
 * The read-back of a zstd initrd: its frames walked header by header (RFC 8878, section 3.1), as
 * the uncompressed read-back walks the newc headers and seeks past the data. Every frame must
 * reach its last block, carry the checksum its header announces, and the last one must end
 * exactly where the file ends. That is what a short write, a compressor cut off, or anything
 * appended afterwards would break.
 *
 * The blocks are not decoded. Decoding them (`zstd -t`) would only check zstd's encoder against
 * its own decoder. On this project's two cores, running the decoder as the initrd was written cost
 * a tenth of the build (see the README's benchmark notes). Walking the frame reads a few bytes
 * per 128 KiB block.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { OsbError } from '../lib/errors.js';

/** A zstd frame's magic number, little-endian. */
const FRAME_MAGIC = 0xfd2fb528;
/** The largest block a frame may hold (Block_Maximum_Size). */
const BLOCK_MAX = 128 * 1024;
/** Bytes of Dictionary_ID and of Frame_Content_Size, by their flags. */
const DICT_ID_BYTES = [0, 1, 2, 4] as const;
const CONTENT_SIZE_BYTES = [0, 2, 4, 8] as const;

export interface ZstdShape {
  readonly frames: number;
  readonly blocks: number;
}

/** Walk the zstd frames of the file at `path`; throws an OsbError naming what is wrong and where. */
export function walkZstdFrames(path: string): ZstdShape {
  const fd = openSync(path, 'r');
  try {
    return walk(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

function walk(fd: number, size: number): ZstdShape {
  const buf = Buffer.alloc(8);
  const bad = (what: string, at: number) =>
    new OsbError(`the initrd just written does not read back: ${what} at byte ${at} of ${size}`, 'check free space and the disk, then build again');
  /** `n` bytes at `at`, which must all be in the file. */
  const read = (at: number, n: number, what: string): Buffer => {
    if (at + n > size) throw bad(`the file ends inside ${what}`, at);
    if (readSync(fd, buf, 0, n, at) !== n) throw bad(`short read of ${what}`, at);
    return buf;
  };
  let at = 0;
  let frames = 0;
  let blocks = 0;
  if (size === 0) throw bad('the file is empty', 0);
  while (at < size) {
    const magic = read(at, 4, 'a frame magic').readUInt32LE(0);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      // A skippable frame: its length, then that many bytes of anything.
      at += 8 + read(at + 4, 4, 'a skippable frame').readUInt32LE(0);
      if (at > size) throw bad('the file ends inside a skippable frame', size);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw bad(frames ? 'data after the last zstd frame' : 'no zstd frame magic', at);
    const d = read(at + 4, 1, 'a frame header')[0]!;
    if (d & 0x08) throw bad('a reserved bit set in a frame header', at + 4);
    const single = (d >> 5) & 1;
    const fcsFlag = d >> 6;
    const contentSize = fcsFlag === 0 ? single : CONTENT_SIZE_BYTES[fcsFlag]!;
    at += 5 + (single ? 0 : 1) + DICT_ID_BYTES[d & 3]! + contentSize;
    for (let last = false; !last; blocks++) {
      const h = read(at, 3, 'a block header');
      const header = h[0]! | (h[1]! << 8) | (h[2]! << 16);
      const type = (header >> 1) & 3;
      const blockSize = header >>> 3;
      if (type === 3) throw bad('a block of the reserved type', at);
      // An RLE block stores one byte, whatever it regenerates.
      if (type !== 1 && blockSize > BLOCK_MAX) throw bad(`a block of ${blockSize} bytes (at most ${BLOCK_MAX})`, at);
      last = (header & 1) === 1;
      at += 3 + (type === 1 ? 1 : blockSize);
      if (at > size) throw bad('the file ends inside a block', size);
    }
    if (d & 0x04) {
      read(at, 4, "the frame's checksum");
      at += 4;
    }
    frames++;
  }
  if (frames === 0) throw bad('no zstd frame, only skippable ones', size);
  return { frames, blocks };
}
