/**
 * `mke2fs -d` copies each file's atime and ctime from the host (misc/create_inode.c,
 * set_inode_extra), so reading the rootfs (atime) or copying it (ctime) changes the image. This
 * pass rewrites every in-use inode's atime and ctime to SOURCE_DATE_EPOCH and clamps mtime to it,
 * then recomputes the inode checksum (metadata_csum), as ext4_inode_csum does:
 *   https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/fs/ext4/inode.c
 * e2fsck verifies every inode checksum afterwards.
 */
import { open } from 'node:fs/promises';
import { OsbError } from '../lib/errors.js';

/** Slice-by-8 tables of the reflected Castagnoli polynomial: T[0] is the byte table. */
const T = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k]![n] = (t[0]![t[k - 1]![n]! & 0xff]! ^ (t[k - 1]![n]! >>> 8)) >>> 0;
  return t;
})();
const [T0, T1, T2, T3, T4, T5, T6, T7] = T as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

/** ext2fs_crc32c_le / the kernel's crc32c(): reflected Castagnoli, no final inversion, over data[start, end). */
export function crc32c(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc >>> 0;
  let i = start;
  // Eight bytes a step (slice-by-8, as e2fsprogs' crc32c.c does): every inode of the image is summed.
  for (const last = end - 7; i < last; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c = T7[a & 0xff]! ^ T6[(a >>> 8) & 0xff]! ^ T5[(a >>> 16) & 0xff]! ^ T4[a >>> 24]! ^ T3[data[i + 4]!]! ^ T2[data[i + 5]!]! ^ T1[data[i + 6]!]! ^ T0[data[i + 7]!]!;
  }
  for (; i < end; i++) c = T0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** crc32c over a 32-bit little-endian number, without a buffer. */
function crc32cU32(crc: number, v: number): number {
  let c = crc >>> 0;
  for (let k = 0; k < 4; k++) c = T0[(c ^ (v >>> (8 * k))) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

// struct ext4_super_block and struct ext4_inode / ext4_group_desc offsets.
const SB = 1024;
const RO_COMPAT_METADATA_CSUM = 0x400;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_CSUM_SEED = 0x2000;
const BG_INODE_UNINIT = 0x1;
const I = { atime: 0x08, ctime: 0x0c, mtime: 0x10, links: 0x1a, generation: 0x64, csumLo: 0x7c, extraIsize: 0x80, csumHi: 0x82, ctimeExtra: 0x84, mtimeExtra: 0x88, atimeExtra: 0x8c } as const;

/**
 * Normalise the timestamps of the ext4 filesystem at byte `offset` of `path`.
 * Returns the number of inodes changed.
 */
export async function normalizeExt4Times(path: string, offset: number, epoch: number): Promise<number> {
  const fh = await open(path, 'r+');
  try {
    const sb = Buffer.alloc(1024);
    await fh.read(sb, 0, 1024, offset + SB);
    if (sb.readUInt16LE(0x38) !== 0xef53) throw new OsbError(`no ext4 superblock at offset ${offset} of ${path}`, 'this is a bug in osb; please report it with the log');
    const blockSize = 1024 << sb.readUInt32LE(0x18);
    const firstDataBlock = sb.readUInt32LE(0x14);
    const inodesPerGroup = sb.readUInt32LE(0x28);
    const inodeSize = sb.readUInt16LE(0x58);
    const incompat = sb.readUInt32LE(0x60);
    const csum = (sb.readUInt32LE(0x64) & RO_COMPAT_METADATA_CSUM) !== 0;
    const descSize = incompat & INCOMPAT_64BIT ? sb.readUInt16LE(0xfe) : 32;
    const blocks = Number((BigInt(incompat & INCOMPAT_64BIT ? sb.readUInt32LE(0x150) : 0) << 32n) | BigInt(sb.readUInt32LE(0x04)));
    const groups = Math.ceil((blocks - firstDataBlock) / (sb.readUInt32LE(0x20)));
    const seed = incompat & INCOMPAT_CSUM_SEED ? sb.readUInt32LE(0x270) : crc32c(0xffffffff, sb.subarray(0x68, 0x78));

    const gdt = Buffer.alloc(groups * descSize);
    await fh.read(gdt, 0, gdt.length, offset + (firstDataBlock + 1) * blockSize);
    let changed = 0;
    for (let g = 0; g < groups; g++) {
      const d = g * descSize;
      if (gdt.readUInt16LE(d + 0x12) & BG_INODE_UNINIT) continue;
      const tableBlock = gdt.readUInt32LE(d + 0x08) + (descSize >= 64 ? gdt.readUInt32LE(d + 0x28) * 2 ** 32 : 0);
      const unused = gdt.readUInt16LE(d + 0x1c) + (descSize >= 64 ? gdt.readUInt16LE(d + 0x32) << 16 : 0);
      const used = inodesPerGroup - (csum ? unused : 0);
      if (used <= 0) continue;
      const table = Buffer.alloc(used * inodeSize);
      const tableOffset = offset + tableBlock * blockSize;
      await fh.read(table, 0, table.length, tableOffset);
      let dirty = false;
      // One view over the table, inodes addressed by offset: this runs once per inode of the
      // image, mostly before V8 has optimised it, so it makes no object per inode.
      const dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
      for (let i = 0; i < used; i++) {
        const at = i * inodeSize;
        if (dv.getUint16(at + I.links, true) === 0) continue;
        if (!setTimes(dv, at, inodeSize, epoch)) continue;
        if (csum) writeInodeChecksum(table, dv, at, g * inodesPerGroup + i + 1, seed, inodeSize);
        dirty = true;
        changed++;
      }
      if (dirty) await fh.write(table, 0, table.length, tableOffset);
    }
    return changed;
  } finally {
    await fh.close();
  }
}

/** Set the time at `off` (seconds) and its `*_extra` word at `extraOff` (if the inode has it) to `value`; whether it changed. */
function setTime(dv: DataView, at: number, hasExtra: boolean, off: number, extraOff: number, value: number): boolean {
  if (dv.getUint32(at + off, true) === value >>> 0 && (!hasExtra || dv.getUint32(at + extraOff, true) === 0)) return false;
  dv.setUint32(at + off, value >>> 0, true);
  if (hasExtra) dv.setUint32(at + extraOff, 0, true);
  return true;
}

/** atime = ctime = epoch, mtime = min(mtime, epoch) for the inode at byte `at`; returns whether anything changed. */
function setTimes(dv: DataView, at: number, inodeSize: number, epoch: number): boolean {
  // The *_extra words exist when the inode's extra size reaches past them.
  const end = 128 + (inodeSize > 128 ? dv.getUint16(at + I.extraIsize, true) : 0);
  let changed = setTime(dv, at, end >= I.atimeExtra + 4, I.atime, I.atimeExtra, epoch);
  changed = setTime(dv, at, end >= I.ctimeExtra + 4, I.ctime, I.ctimeExtra, epoch) || changed;
  // Seconds are a signed 32-bit field plus the low two bits of *_extra as bits 32-33
  // (ext4_decode_extra_time); the rest of *_extra is nanoseconds.
  const mtimeExtra = end >= I.mtimeExtra + 4;
  const mtime = dv.getInt32(at + I.mtime, true) + (mtimeExtra ? (dv.getUint32(at + I.mtimeExtra, true) & 3) * 2 ** 32 : 0);
  if (mtime > epoch) changed = setTime(dv, at, mtimeExtra, I.mtime, I.mtimeExtra, epoch) || changed;
  return changed;
}

function writeInodeChecksum(table: Uint8Array, dv: DataView, at: number, inum: number, seed: number, inodeSize: number): void {
  const hasHi = inodeSize > 128 && dv.getUint16(at + I.extraIsize, true) >= 4;
  dv.setUint16(at + I.csumLo, 0, true);
  if (hasHi) dv.setUint16(at + I.csumHi, 0, true);
  let c = crc32cU32(seed, inum);
  c = crc32c(c, table, at + I.generation, at + I.generation + 4);
  c = crc32c(c, table, at, at + inodeSize);
  dv.setUint16(at + I.csumLo, c & 0xffff, true);
  if (hasHi) dv.setUint16(at + I.csumHi, c >>> 16, true);
}
