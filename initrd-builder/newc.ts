/**
 * The cpio "newc" (SVR4, no checksum) header, as the kernel unpacks it. Format:
 * https://www.kernel.org/doc/html/latest/driver-api/early-userspace/buffer-format.html
 *
 * Each entry is a 110-byte ASCII header (magic "070701" then 13 fields of 8 hex digits), the name
 * with its NUL, padding to a multiple of 4, the data, padding to a multiple of 4. The archive ends
 * with an entry named TRAILER!!!.
 */
import { OsbError } from '../lib/errors.js';

export const NEWC_MAGIC = '070701';
export const HEADER_SIZE = 110;
export const TRAILER_NAME = 'TRAILER!!!';
/** Linux PATH_MAX; the kernel drops entries whose namesize (name + NUL) is larger. */
export const PATH_MAX = 4096;
/** newc stores sizes in 8 hex digits. */
export const MAX_FIELD = 0xffffffff;

/** Everything a header carries, already normalised (renumbered inode, clamped mtime...). */
export interface NewcHeader {
  readonly ino: number;
  /** File type and permission bits (st_mode). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly filesize: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  /** The archive name, without a NUL (e.g. `usr/bin/env`): bytes, or a latin1 string of them (one char per byte). */
  readonly name: Buffer | string;
}

/** Bytes needed to pad `n` up to a multiple of 4. */
export function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** Size of the header, the name, its NUL and the padding after them. */
export function headerLength(name: Buffer | string): number {
  const n = HEADER_SIZE + name.length + 1;
  return n + pad4(n);
}

// Upper case like GNU cpio and the kernel's gen_init_cpio, so hex dumps compare at a glance.
const HEX_DIGITS = Buffer.from('0123456789ABCDEF', 'latin1');

/** Write `v` as 8 hex digits at `at` (a header has 13 such fields per entry: no strings made). */
function putHex8(buf: Buffer, at: number, v: number, field: string, name: Buffer | string): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_FIELD) {
    throw new OsbError(`${field} ${v} of ${displayName(asBytes(name))} does not fit a cpio newc header (8 hex digits)`, 'newc cannot store it; remove or change the entry');
  }
  for (let i = 7; i >= 0; i--) {
    buf[at + i] = HEX_DIGITS[v & 15]!;
    v >>>= 4;
  }
}

const asBytes = (name: Buffer | string): Buffer => (typeof name === 'string' ? Buffer.from(name, 'latin1') : name);

/** Throw the user-facing error for a name the kernel would refuse. */
export function checkNameLength(name: Buffer | string): void {
  if (name.length + 1 > PATH_MAX) {
    throw new OsbError(
      `path too long for an initrd (${name.length} bytes; the kernel's limit is PATH_MAX = ${PATH_MAX} with the NUL): ${displayName(asBytes(name), 120)}`,
      'shorten or remove that path in the rootfs; the kernel would skip it when unpacking',
    );
  }
}

/**
 * Write the header, name, NUL and padding for `h` into `buf` at `offset`; returns the offset after
 * them. `buf` must have `headerLength(h.name)` bytes of room.
 */
export function writeHeader(buf: Buffer, offset: number, h: NewcHeader): number {
  checkNameLength(h.name);
  buf.write(NEWC_MAGIC, offset, 'latin1');
  // Field by field, in header order; no array per header (an initrd has thousands of them).
  const at = offset + NEWC_MAGIC.length;
  putHex8(buf, at, h.ino, 'inode', h.name);
  putHex8(buf, at + 8, h.mode, 'mode', h.name);
  putHex8(buf, at + 16, h.uid, 'uid', h.name);
  putHex8(buf, at + 24, h.gid, 'gid', h.name);
  putHex8(buf, at + 32, h.nlink, 'link count', h.name);
  putHex8(buf, at + 40, h.mtime, 'mtime', h.name);
  putHex8(buf, at + 48, h.filesize, 'size', h.name);
  // The host's device says nothing about the guest, and would break reproducibility.
  putHex8(buf, at + 56, 0, 'devmajor', h.name);
  putHex8(buf, at + 64, 0, 'devminor', h.name);
  putHex8(buf, at + 72, h.rdevMajor, 'device major', h.name);
  putHex8(buf, at + 80, h.rdevMinor, 'device minor', h.name);
  putHex8(buf, at + 88, h.name.length + 1, 'name size', h.name);
  putHex8(buf, at + 96, 0, 'check', h.name); // only used by the 070702 (crc) variant
  const named = at + 104 + (typeof h.name === 'string' ? buf.write(h.name, at + 104, 'latin1') : h.name.copy(buf, at + 104));
  const end = offset + headerLength(h.name);
  buf.fill(0, named, end);
  return end;
}

/** A standalone header (for tests and the trailer). */
export function encodeHeader(h: NewcHeader): Buffer {
  const buf = Buffer.alloc(headerLength(h.name));
  writeHeader(buf, 0, h);
  return buf;
}

/** The TRAILER!!! entry, with nlink 1 as GNU cpio and gen_init_cpio write it. */
export function trailerHeader(): NewcHeader {
  return { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: 0, rdevMajor: 0, rdevMinor: 0, name: Buffer.from(TRAILER_NAME) };
}

/** A name for messages: UTF-8 with bad bytes replaced, shortened in the middle if long. */
export function displayName(name: Buffer | string, max = 200): string {
  const s = typeof name === 'string' ? name : name.toString('utf8');
  return s.length <= max ? s : `${s.slice(0, max / 2)}…${s.slice(-max / 2)}`;
}
