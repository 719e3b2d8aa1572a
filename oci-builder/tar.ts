/**
 * osb's own tar writer for layers and bundles: POSIX pax (ustar headers plus pax extended
 * headers where ustar cannot say it), the format OCI layers use.
 *
 * Written by hand rather than with tar-stream because tar-stream 3 builds pax records from JS
 * strings: binary xattr values (a security.capability holding cap_setuid has the byte 0x80) and
 * names that are not UTF-8 come out changed. node-tar drops device nodes and fifos and stalls on
 * them (../shared/OCI-NOTES.md). Here every field is bytes.
 *
 * The output is a stream of ~256 KiB chunks; file data is read synchronously straight into the
 * current chunk (a rootfs is mostly small files in the page cache), so memory stays bounded.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { OsbError } from '../lib/errors.js';
import type { TarEntry } from './tree.js';

const BLOCK = 512;
export const CHUNK_SIZE = 256 * 1024;
const TYPEFLAG: Record<TarEntry['kind'], string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

/** Largest value an octal field of `len` bytes holds (len - 1 digits and a NUL). */
const maxOctal = (len: number) => 8 ** (len - 1) - 1;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

/** One pax record: "LEN key=value\n", LEN counting itself. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = 3 + Buffer.byteLength(key) + value.length; // ' ', '=', '\n'
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

/** Split a name into ustar's prefix (155) and name (100) fields, or undefined when it does not fit. */
function splitName(name: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), name };
  for (let i = Math.min(155, name.length - 1); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
  }
  return undefined;
}

interface Header {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname: Buffer;
  devMajor: number;
  devMinor: number;
}

function ustarHeader(h: Header, split: { prefix: Buffer; name: Buffer }): Buffer {
  const b = Buffer.alloc(BLOCK);
  split.name.copy(b, 0);
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, h.mtime);
  b.write('        ', 148, 8, 'latin1'); // checksum counted as spaces
  b.write(h.type, 156, 1, 'latin1');
  h.linkname.copy(b, 157, 0, Math.min(100, h.linkname.length));
  b.write('ustar\x0000', 257, 8, 'latin1');
  // uname and gname stay empty: numeric owners only (reproducible, no host user database).
  octal(b, 329, 8, h.devMajor);
  octal(b, 337, 8, h.devMinor);
  split.prefix.copy(b, 345);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

const padTo = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

/** The header block(s) of `e` under the name `name`: a pax header first when ustar cannot hold everything. */
export function entryHeader(e: TarEntry, name: Buffer, prefix: Buffer = Buffer.alloc(0)): Buffer {
  const records: Buffer[] = [];
  const linkname = e.kind === 'symlink' ? e.target! : e.kind === 'hardlink' ? Buffer.concat([prefix, Buffer.from(e.linkTo!, 'latin1')]) : Buffer.alloc(0);
  let split = splitName(name);
  if (!split) {
    records.push(paxRecord('path', name));
    split = { prefix: Buffer.alloc(0), name: name.subarray(0, 100) };
  }
  if (linkname.length > 100) records.push(paxRecord('linkpath', linkname));
  const h: Header = { name, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime, type: TYPEFLAG[e.kind], linkname, devMajor: e.devMajor, devMinor: e.devMinor };
  for (const k of ['uid', 'gid', 'size'] as const) {
    if (h[k] > maxOctal(k === 'size' ? 12 : 8)) {
      records.push(paxRecord(k, Buffer.from(String(h[k]))));
      h[k] = 0;
    }
  }
  for (const [key, value] of [...(e.xattrs ?? [])].sort(([a], [b]) => (a < b ? -1 : 1))) records.push(paxRecord(`SCHILY.xattr.${key}`, value));
  const main = ustarHeader(h, split);
  if (records.length === 0) return main;
  const data = Buffer.concat(records);
  // GNU tar's %d/PaxHeaders/%f naming; the name of a pax header is not used by readers.
  const base = name.subarray(name.lastIndexOf(0x2f, name.length - 2) + 1).subarray(0, 80);
  const paxName = Buffer.concat([Buffer.from('PaxHeaders/'), base]);
  const pax = ustarHeader({ ...h, name: paxName, mode: 0o644, uid: 0, gid: 0, size: data.length, type: 'x', linkname: Buffer.alloc(0), devMajor: 0, devMinor: 0 }, { prefix: Buffer.alloc(0), name: paxName });
  return Buffer.concat([pax, data, Buffer.alloc(padTo(data.length)), main]);
}

function changed(path: Buffer, grew: boolean): OsbError {
  return new OsbError(`${path.toString()} changed size while it was archived (it ${grew ? 'grew' : 'shrank'})`, 'something is still writing into the rootfs; stop it and build again');
}

export interface TarStats {
  entries: number;
  bytes: number;
}

/**
 * The archive of `entries` (each under `prefix` + its name), ending with two zero blocks.
 * `stats` is filled in as chunks are produced.
 */
export async function* tarChunks(entries: readonly TarEntry[], stats: TarStats, o: { prefix?: string; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
  let buf = Buffer.allocUnsafe(CHUNK_SIZE);
  let pos = 0;
  const take = () => {
    if (o.signal?.aborted) throw o.signal.reason;
    const out = buf.subarray(0, pos);
    buf = Buffer.allocUnsafe(CHUNK_SIZE);
    pos = 0;
    stats.bytes += out.length;
    return out;
  };
  function* put(bytes: Buffer): Generator<Buffer> {
    let at = 0;
    while (at < bytes.length) {
      if (pos === CHUNK_SIZE) yield take();
      const n = bytes.copy(buf, pos, at, Math.min(bytes.length, at + CHUNK_SIZE - pos));
      pos += n;
      at += n;
    }
  }
  function* zeros(n: number): Generator<Buffer> {
    if (n > 0) yield* put(Buffer.alloc(n));
  }
  function* fileData(path: Buffer, size: number): Generator<Buffer> {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new OsbError(`cannot read ${path.toString()}: ${(e as NodeJS.ErrnoException).code}`, 'check that the rootfs is complete and readable');
    }
    try {
      let left = size;
      while (left > 0) {
        if (pos === CHUNK_SIZE) yield take();
        const n = readSync(fd, buf, pos, Math.min(left, CHUNK_SIZE - pos), null);
        if (n === 0) throw changed(path, false);
        pos += n;
        left -= n;
      }
      if (readSync(fd, Buffer.allocUnsafe(1), 0, 1, null) !== 0) throw changed(path, true);
    } finally {
      closeSync(fd);
    }
  }
  const prefix = Buffer.from(o.prefix ?? '', 'latin1');
  for (const e of entries) {
    if (o.signal?.aborted) throw o.signal.reason;
    const name = Buffer.concat([prefix, Buffer.from(e.kind === 'dir' ? `${e.name}/` : e.name, 'latin1')]);
    yield* put(entryHeader(e, name, prefix));
    if (e.kind === 'file' && e.size > 0) {
      yield* fileData(e.path!, e.size);
      yield* zeros(padTo(e.size));
    }
    stats.entries++;
  }
  yield* zeros(2 * BLOCK);
  if (pos > 0) yield take();
}
