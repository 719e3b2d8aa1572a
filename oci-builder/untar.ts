/**
 * osb's own tar reader, the counterpart of tar.ts, for archives osb does not trust (a parent
 * image's layers, a cache artefact, an oci-archive).
 *
 * Written by hand for the reason tar.ts is: every field stays bytes. tar-stream decodes pax
 * records as UTF-8 strings (a binary security.capability comes out changed). And the extractor
 * must act on exactly the names it checked: listing a layer with one parser and unpacking it with
 * another (GNU tar) leaves room for an archive that the two read differently.
 *
 * It reads ustar, pax (path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*) and GNU long names
 * (L, K), with octal or base-256 numbers, and checks every header's checksum. What it cannot
 * represent faithfully (sparse files, multi-volume archives, global pax headers that rename) is
 * refused rather than guessed at.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { OsbError } from '../lib/errors.js';
import type { TarKind } from './tree.js';

const BLOCK = 512;

export interface TarHeader {
  /** Name as it stands in the archive, latin1 (one char per byte). */
  readonly name: string;
  readonly kind: TarKind;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly size: number;
  /** Symlink target or hard link name, latin1. */
  readonly linkname: string;
  readonly devMajor: number;
  readonly devMinor: number;
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private done = false;
  offset = 0;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.have < n && !this.done) {
      const r = await this.source.next();
      if (r.done) this.done = true;
      else if (r.value.length) {
        this.chunks.push(r.value);
        this.have += r.value.length;
      }
    }
  }

  /** Up to `max` bytes, at least one unless at the end. */
  async some(max: number): Promise<Buffer> {
    await this.fill(1);
    if (!this.have) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    const out = first.length <= max ? first : first.subarray(0, max);
    if (out.length === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(max);
    this.have -= out.length;
    this.offset += out.length;
    return out;
  }

  /** Exactly n bytes, or fewer at the end of the stream. */
  async exact(n: number): Promise<Buffer> {
    await this.fill(n);
    const parts: Buffer[] = [];
    let want = n;
    while (want > 0) {
      const b = await this.some(want);
      if (!b.length) break;
      parts.push(b);
      want -= b.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

const cstr = (b: Buffer): Buffer => {
  const i = b.indexOf(0);
  return i < 0 ? b : b.subarray(0, i);
};

function num(b: Buffer, what: string): number {
  if (b[0]! & 0x80) {
    // base-256: big-endian two's complement; negative values are refused
    if (b[0]! & 0x40) throw new Error(`negative ${what}`);
    let v = b[0]! & 0x3f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    if (!Number.isSafeInteger(v)) throw new Error(`${what} too large`);
    return v;
  }
  const s = cstr(b).toString('latin1').replace(/ +$/, '').replace(/^ +/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`${what} is not an octal number`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = num(h.subarray(148, 156), 'checksum');
  let u = 0;
  for (let i = 0; i < BLOCK; i++) u += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return stored === u;
}

/** Pax records "LEN key=value\n", values as bytes. */
function parsePax(b: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < b.length) {
    if (b[i] === 0) break;
    const sp = b.indexOf(0x20, i);
    const len = sp < 0 ? NaN : Number(b.subarray(i, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0 || i + len > b.length || b[i + len - 1] !== 0x0a) throw new Error('malformed pax record');
    const rec = b.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new Error('malformed pax record');
    out.set(rec.subarray(0, eq).toString('latin1'), rec.subarray(eq + 1));
    i += len;
  }
  return out;
}

const KINDS: Record<string, TarKind> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

/** Where an archive's bytes come from: the file, through gzip or zstd when its first bytes say so. */
async function decompressed(file: string, signal?: AbortSignal): Promise<{ stream: AsyncIterable<Buffer>; done: (complete: boolean) => Promise<void> }> {
  const fh = await open(file, 'r');
  const magic = Buffer.alloc(4);
  await fh.read(magic, 0, 4, 0);
  await fh.close();
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    const s = createReadStream(file, { highWaterMark: 1 << 20 }).pipe(createGunzip({ chunkSize: 1 << 20 }));
    return { stream: s, done: async () => {} };
  }
  if (magic.equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) {
    // Node 20 has no zstd; the zstd tool decompresses, osb still parses every byte.
    const child = spawn('zstd', ['-dcq', '--', file], { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((res, rej) => {
      child.on('error', (e) => rej(new OsbError(`cannot run zstd to read ${file}: ${e.message}`, 'zstd is in package zstd')));
      child.on('close', (code) => (code === 0 ? res() : rej(new OsbError(`zstd could not decompress ${file}: ${err.trim().split('\n')[0] ?? `exit ${code}`}`))));
    });
    exited.catch(() => {});
    return {
      stream: child.stdout,
      done: async (complete) => {
        if (complete) return exited;
        child.kill();
      },
    };
  }
  return { stream: createReadStream(file, { highWaterMark: 1 << 20 }), done: async () => {} };
}

export interface TarMember {
  readonly header: TarHeader;
  /** Byte offset of the member's header in the uncompressed archive (for messages). */
  readonly offset: number;
  /** The member's data in chunks; must be consumed (or skipped by not calling it) before the next member. */
  data(): AsyncGenerator<Buffer>;
}

/**
 * Every member of the archive, in order. Throws an Error (plain: the caller names the archive)
 * when the archive is not a tar osb can read faithfully.
 */
export async function* readTar(file: string, signal?: AbortSignal): AsyncGenerator<TarMember> {
  const { stream, done } = await decompressed(file, signal);
  const it = stream[Symbol.asyncIterator]();
  const r = new ByteReader(it);
  let longName: Buffer | undefined;
  let longLink: Buffer | undefined;
  let pax: Map<string, Buffer> | undefined;
  const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
  let complete = false;
  try {
    for (;;) {
      const offset = r.offset;
      const h = await r.exact(BLOCK);
      if (h.length === 0) break; // no end blocks at all: accepted, as GNU tar does
      if (h.length < BLOCK) throw new Error(`the archive ends inside a header at byte ${offset}`);
      if (h.every((x) => x === 0)) break;
      if (!checksumOk(h)) throw new Error(`header at byte ${offset} has a bad checksum (not a tar archive, or damaged)`);
      const type = String.fromCharCode(h[156]!);
      let size = num(h.subarray(124, 136), 'size');
      const meta = async () => {
        if (size > 1 << 20) throw new Error(`metadata record of ${size} bytes at byte ${offset}`);
        const b = await r.exact(padded(size));
        if (b.length < padded(size)) throw new Error('the archive ends inside a metadata record');
        return b.subarray(0, size);
      };
      if (type === 'L') { longName = cstr(await meta()); continue; }
      if (type === 'K') { longLink = cstr(await meta()); continue; }
      if (type === 'x') { pax = parsePax(await meta()); continue; }
      if (type === 'g') {
        const g = parsePax(await meta());
        for (const k of g.keys()) if (k === 'path' || k === 'linkpath' || k === 'size') throw new Error(`a global pax header sets '${k}' (byte ${offset}); osb does not read such archives`);
        continue;
      }
      if (type === 'V') { await r.exact(padded(size)); continue; }
      const kind = KINDS[type];
      if (!kind) throw new Error(`member at byte ${offset} has tar type '${type.replace(/[^\x20-\x7e]/g, '?')}' (${type === 'S' ? 'a sparse file' : type === 'M' ? 'a multi-volume part' : 'unknown'}), which osb does not unpack`);
      const magic = h.subarray(257, 263).toString('latin1');
      const prefix = magic === 'ustar\0' ? cstr(h.subarray(345, 500)) : Buffer.alloc(0);
      let nameB = longName ?? (prefix.length ? Buffer.concat([prefix, Buffer.from('/'), cstr(h.subarray(0, 100))]) : cstr(h.subarray(0, 100)));
      let linkB = longLink ?? cstr(h.subarray(157, 257));
      let uid = num(h.subarray(108, 116), 'uid');
      let gid = num(h.subarray(116, 124), 'gid');
      let mtime = num(h.subarray(136, 148), 'mtime');
      const xattrs = new Map<string, Buffer>();
      if (pax) {
        for (const [k, v] of pax) {
          if (k === 'path') nameB = v;
          else if (k === 'linkpath') linkB = v;
          else if (k === 'size') size = numPax(v, k);
          else if (k === 'uid') uid = numPax(v, k);
          else if (k === 'gid') gid = numPax(v, k);
          else if (k === 'mtime') mtime = Math.floor(Number(v.toString('latin1')) || 0);
          else if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), Buffer.from(v));
        }
      }
      longName = longLink = pax = undefined;
      if (nameB.includes(0) || linkB.includes(0)) throw new Error(`member at byte ${offset} has a NUL byte in its name`);
      // As Go's archive/tar: only regular files carry data, whatever the size field of another kind says.
      if (kind !== 'file') size = 0;
      const header: TarHeader = {
        name: nameB.toString('latin1'),
        kind,
        mode: num(h.subarray(100, 108), 'mode') & 0o7777,
        uid,
        gid,
        mtime,
        size: kind === 'file' ? size : 0,
        linkname: linkB.toString('latin1'),
        devMajor: kind === 'char' || kind === 'block' ? num(h.subarray(329, 337), 'devmajor') : 0,
        devMinor: kind === 'char' || kind === 'block' ? num(h.subarray(337, 345), 'devminor') : 0,
        xattrs,
      };
      let consumed = false;
      const dataSize = size; // what the header says follows, whatever the kind
      const skip = padded(dataSize);
      const member: TarMember = {
        header,
        offset,
        async *data() {
          consumed = true;
          let left = dataSize;
          while (left > 0) {
            const b = await r.some(Math.min(left, 1 << 20));
            if (!b.length) throw new Error(`the archive ends inside the data of '${header.name}'`);
            left -= b.length;
            yield b;
          }
          const pad = skip - dataSize;
          if (pad && (await r.exact(pad)).length < pad) throw new Error('the archive ends inside padding');
        },
      };
      yield member;
      if (!consumed) {
        let left = skip;
        while (left > 0) {
          const b = await r.some(Math.min(left, 1 << 20));
          if (!b.length) throw new Error(`the archive ends inside the data of '${header.name}'`);
          left -= b.length;
        }
      }
    }
    if (longName || longLink || pax) throw new Error('the archive ends after a long-name or pax header with no member');
    // What follows the end blocks (tar's record padding) is read so a decompressor can finish.
    while (!(await it.next()).done);
    complete = true;
  } finally {
    if (!complete) await it.return?.();
    await done(complete);
  }
}

function numPax(v: Buffer, k: string): number {
  const s = v.toString('latin1');
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new Error(`pax ${k} '${s.slice(0, 20)}' is not a number`);
  return Number(s);
}
