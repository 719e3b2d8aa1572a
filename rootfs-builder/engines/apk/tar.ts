/**
 * The tar dialect of apk v2 files: ustar headers (POSIX `ustar\0` or old GNU `ustar  `), pax
 * extended headers (`x`, where abuild-tar puts APK-TOOLS.checksum.SHA1 for each file), GNU long
 * names (`L`/`K`). The signature and control segments have no end-of-archive blocks: abuild-tar
 * --cut removes them, so the archive simply ends (apk-tools src/tar.c reads it the same way).
 */
import { OsbError } from '../../../lib/errors.js';

export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  readonly name: string;
  readonly type: TarType;
  /** Permission bits (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Owner names; apk maps them through the target's /etc/passwd and /etc/group. */
  readonly uname: string;
  readonly gname: string;
  readonly mtime: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** File content (empty for anything but regular files). */
  readonly data: Buffer;
  /** The entry's pax records (`x` header before it). */
  readonly pax: Readonly<Record<string, string>>;
}

const BLOCK = 512;
const TYPES: Record<string, TarType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

const text = (b: Buffer, off: number, len: number) => {
  const f = b.subarray(off, off + len);
  const z = f.indexOf(0);
  return (z < 0 ? f : f.subarray(0, z)).toString('utf8');
};

/** A numeric field: octal text, or GNU base-256 when the top bit of the first byte is set. */
function num(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  const t = text(b, off, len).trim();
  return t ? parseInt(t, 8) : 0;
}

/** Header checksum: the sum of all bytes with the checksum field counted as spaces. */
function headerChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum;
}

/** pax records: "LEN key=value\n", LEN counting the whole record. */
function parsePax(b: Buffer, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  let p = 0;
  while (p < b.length) {
    const sp = b.indexOf(0x20, p);
    const len = sp > p ? Number(b.subarray(p, sp).toString('latin1')) : NaN;
    if (!Number.isInteger(len) || len <= 0 || p + len > b.length || b[p + len - 1] !== 0x0a) {
      throw new OsbError(`${what}: malformed pax header record`, 'the archive is damaged');
    }
    const rec = b.subarray(sp + 1, p + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    p += len;
  }
  return out;
}

/** All entries of a tar archive held in memory. `what` names the archive in errors. */
export function readTar(buf: Buffer, what: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let p = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (p < buf.length) {
    if (buf.length - p < BLOCK) throw new OsbError(`${what}: truncated tar header at byte ${p}`, 'the archive is damaged');
    const h = buf.subarray(p, p + BLOCK);
    if (h.every((x) => x === 0)) break; // end-of-archive (the rest is padding)
    if (num(h, 148, 8) !== headerChecksum(h)) throw new OsbError(`${what}: bad tar header checksum at byte ${p}`, 'the archive is damaged');
    const size = num(h, 124, 12);
    const dataStart = p + BLOCK;
    const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (next > buf.length) throw new OsbError(`${what}: truncated tar entry at byte ${p}`, 'the archive is damaged');
    const data = buf.subarray(dataStart, dataStart + size);
    p = next;
    const flag = String.fromCharCode(h[156]!);
    if (flag === 'x') {
      pax = { ...pax, ...parsePax(data, what) };
      continue;
    }
    if (flag === 'g') continue; // global pax headers carry nothing apk uses
    if (flag === 'L' || flag === 'K') {
      const v = text(data, 0, data.length);
      if (flag === 'L') longName = v;
      else longLink = v;
      continue;
    }
    const type = TYPES[flag];
    // POSIX ustar keeps a name prefix at 345; old GNU headers ("ustar  ") use that space for times.
    const posix = h.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = posix ? text(h, 345, 155) : '';
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
    if (type) {
      entries.push({
        name,
        type,
        mode: num(h, 100, 8) & 0o7777,
        uid: pax.uid !== undefined ? Number(pax.uid) : num(h, 108, 8),
        gid: pax.gid !== undefined ? Number(pax.gid) : num(h, 116, 8),
        uname: pax.uname ?? text(h, 265, 32),
        gname: pax.gname ?? text(h, 297, 32),
        mtime: pax.mtime !== undefined ? Math.floor(Number(pax.mtime)) : num(h, 136, 12),
        linkname: pax.linkpath ?? longLink ?? text(h, 157, 100),
        devmajor: num(h, 329, 8),
        devminor: num(h, 337, 8),
        data: type === 'file' ? data : Buffer.alloc(0),
        pax,
      });
    }
    pax = {};
    longName = longLink = undefined;
  }
  return entries;
}

export interface TarFile {
  readonly name: string;
  readonly data: Buffer;
  /** @default 0o644 */
  readonly mode?: number;
  /** @default 0 */
  readonly mtime?: number;
}

/** One regular-file entry as apk-tools writes it (apk_tar_write_entry: old GNU magic, root owner). */
export function tarFileEntry(f: TarFile): Buffer {
  const name = Buffer.from(f.name, 'utf8');
  if (name.length > 100) throw new OsbError(`tar entry name too long: ${f.name}`);
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  const octal = (off: number, len: number, v: number) => h.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
  octal(100, 8, (f.mode ?? 0o644) & 0o7777);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, f.data.length);
  octal(136, 12, f.mtime ?? 0);
  h.write('0', 156, 'latin1');
  h.write('ustar  \0', 257, 'latin1');
  h.write('root', 265, 'latin1');
  h.write('root', 297, 'latin1');
  h.write(headerChecksum(h).toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
  return Buffer.concat([h, f.data, Buffer.alloc(pad)]);
}

/** A complete archive of regular files, with the two end-of-archive blocks. */
export function writeTar(files: readonly TarFile[]): Buffer {
  return Buffer.concat([...files.map(tarFileEntry), Buffer.alloc(2 * BLOCK)]);
}
