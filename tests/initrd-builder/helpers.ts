/**
 * Shared by the initrd tests: a BuildContext on real tools, temp dirs, an independent newc
 * reader (written from the kernel's buffer-format.rst, sharing no code with initrd-builder/),
 * and a snapshot of a directory tree to compare extracted archives with their source.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { BuildContext } from '../../lib/context.js';
import { leftovers, makeTestContext, recordingReporter, removeTempDirs, SDE, tempDir as sharedTempDir, type TestContextOptions } from '../helpers/build-context.js';

export function makeCtx(workdir: string, o: TestContextOptions = {}): BuildContext {
  return makeTestContext(workdir, 'initrd', o);
}

export interface ParsedEntry {
  name: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  check: number;
  data: Buffer;
}

/** Parse a whole newc archive held in memory; throws on anything malformed. */
export function parseNewc(buf: Buffer): { entries: ParsedEntry[]; end: number } {
  const entries: ParsedEntry[] = [];
  const align = (n: number) => (n + 3) & ~3;
  let off = 0;
  for (;;) {
    if (buf.toString('ascii', off, off + 6) !== '070701') throw new Error(`no newc magic at ${off}`);
    const f = (i: number) => {
      const s = buf.toString('ascii', off + 6 + 8 * i, off + 14 + 8 * i);
      if (!/^[0-9A-F]{8}$/.test(s)) throw new Error(`field ${i} at ${off} is not 8 upper-case hex digits: ${s}`);
      return parseInt(s, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check] = Array.from({ length: 13 }, (_, i) => f(i)) as number[] as [number, number, number, number, number, number, number, number, number, number, number, number, number];
    const nameStart = off + 110;
    if (buf[nameStart + namesize - 1] !== 0) throw new Error(`name at ${off} is not NUL-terminated`);
    const name = buf.toString('latin1', nameStart, nameStart + namesize - 1);
    const dataStart = align(nameStart + namesize);
    for (let i = nameStart + namesize; i < dataStart; i++) if (buf[i] !== 0) throw new Error(`non-zero name padding at ${i}`);
    const data = buf.subarray(dataStart, dataStart + filesize);
    off = align(dataStart + filesize);
    if (name === 'TRAILER!!!') return { entries, end: off };
    entries.push({ name, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, check, data });
  }
}

/** What a user sees of one path: type and permissions, owner, content or target, device. */
export interface Seen {
  mode: string;
  /** Seconds; left out for symlinks and directories. */
  mtime?: number;
  uid: number;
  gid: number;
  content?: string;
  target?: string;
  rdev?: string;
  /** Other names of the same inode (hard links), sorted. */
  links?: string[];
}

/** Snapshot every entry under `root` (relative names as latin1 byte strings, `.` for the root). */
export function snapshot(root: string, o: { skip?: (name: string) => boolean; clampMtime?: number } = {}): Map<string, Seen> {
  const skip = o.skip ?? (() => false);
  const out = new Map<string, Seen>();
  const byIno = new Map<string, string[]>();
  const walk = (rel: string) => {
    const abs = rel === '.' ? Buffer.from(root) : Buffer.concat([Buffer.from(`${root}/`), Buffer.from(rel, 'latin1')]);
    const st = lstatSync(abs);
    const seen: Seen = { mode: st.mode.toString(8), uid: st.uid, gid: st.gid };
    // GNU cpio -m sets neither symlink times nor (once it has put files in them) directory times.
    if (!st.isSymbolicLink() && !st.isDirectory()) seen.mtime = Math.min(Math.floor(st.mtimeMs / 1000), o.clampMtime ?? Infinity);
    if (st.isFile()) {
      seen.content = createHash('sha256').update(readFileSync(abs)).digest('hex');
      if (st.nlink > 1) byIno.set(`${st.dev}:${st.ino}`, [...(byIno.get(`${st.dev}:${st.ino}`) ?? []), rel]);
    }
    if (st.isSymbolicLink()) seen.target = readlinkSync(abs, { encoding: 'buffer' }).toString('latin1');
    if (st.isCharacterDevice() || st.isBlockDevice()) seen.rdev = `${Math.floor(st.rdev / 256) & 0xfff}:${st.rdev & 0xff}`;
    out.set(rel, seen);
    if (!st.isDirectory()) return;
    for (const nb of readdirSync(abs, { encoding: 'buffer' }).map((b) => b.toString('latin1')).sort()) {
      const child = rel === '.' ? nb : `${rel}/${nb}`;
      if (!skip(child)) walk(child);
    }
  };
  walk('.');
  for (const names of byIno.values()) if (names.length > 1) for (const n of names) out.get(n)!.links = [...names].sort();
  return out;
}

/** `cpio -t` of an uncompressed archive, one name per line. */
export function cpioList(archive: string): string[] {
  return execFileSync('cpio', ['-t', '--quiet', '-F', archive], { encoding: 'latin1' }).split('\n').filter(Boolean);
}

/** `find .` of a tree, names as cpio lists them (`.` then `a/b`, no `./`), sorted. */
export function findList(root: string): string[] {
  return execFileSync('find', ['.'], { cwd: root, encoding: 'latin1' })
    .split('\n')
    .filter(Boolean)
    .map((n) => (n === '.' ? n : n.slice(2)))
    .sort();
}

export const readBytes = (p: string) => readFileSync(p);

export { recordingReporter, removeTempDirs, leftovers, SDE };
export function tempDir(tag = 'osb-initrd-test-'): string {
  return sharedTempDir(tag);
}
