/** Byte-level helpers on image files that keep them sparse: only non-zero blocks are written. */
import { open } from 'node:fs/promises';

const BLOCK = 4096;
const CHUNK = 1 << 20;
const ZERO = Buffer.alloc(BLOCK);

/**
 * Copy `length` bytes of `src` from `srcOffset` into `dst` at `dstOffset`, skipping all-zero
 * 4 KiB blocks so holes stay holes (the destination is a fresh sparse file: skipped blocks read
 * back as zeros).
 */
export async function copySparse(src: string, srcOffset: number, length: number, dst: string, dstOffset: number): Promise<void> {
  const from = await open(src, 'r');
  const to = await open(dst, 'r+');
  try {
    const buf = Buffer.alloc(CHUNK);
    for (let done = 0; done < length; ) {
      const want = Math.min(CHUNK, length - done);
      const { bytesRead } = await from.read(buf, 0, want, srcOffset + done);
      if (bytesRead === 0) break; // past the end of src: the rest is zeros
      for (let i = 0; i < bytesRead; i += BLOCK) {
        const end = Math.min(i + BLOCK, bytesRead);
        const block = buf.subarray(i, end);
        if (!block.equals(ZERO.subarray(0, end - i))) await to.write(block, 0, block.length, dstOffset + done + i);
      }
      done += bytesRead;
    }
  } finally {
    await from.close();
    await to.close();
  }
}

/** Write `data` into `path` at `offset` (the file must exist). */
export async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}

/** Read `length` bytes of `path` at `offset` (zeros past the end). */
export async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Create (or cut) `path` as a sparse file of `size` bytes. */
export async function createSparse(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}
