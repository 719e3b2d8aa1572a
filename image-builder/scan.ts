/**
 * One pass over the rootfs collecting what the sizing needs (file sizes, directory entries,
 * symlink targets, hard links) and the extremes a filesystem may not be able to hold.
 * A name that is not UTF-8 is measured and reported exactly (the walk then reads names as bytes).
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync, type BigIntStats } from 'node:fs';
import { dirname } from 'node:path';
import { OsbError } from '../lib/errors.js';

/** The largest value of some property in the tree and where it occurs (for error messages). */
export interface Extreme {
  readonly bytes: number;
  /** Path inside the rootfs, starting with `/`. */
  readonly path: string;
}

export interface TreeStats {
  /** Byte size of each distinct regular-file inode (hard links counted once). */
  readonly fileSizes: readonly number[];
  /** For each directory (the root first): the byte length of each entry's name. */
  readonly directories: readonly (readonly number[])[];
  /** Byte length of each symlink's target. */
  readonly symlinkTargets: readonly number[];
  /** Device nodes, fifos and sockets. */
  readonly specialFiles: number;
  /** Names beyond the first of multiply linked files: entries without an inode of their own. */
  readonly extraHardLinks: number;
  /** The rootfs has a top-level lost+found directory (mke2fs reuses it instead of adding one). */
  readonly hasLostFound: boolean;
  readonly longestName: Extreme;
  readonly longestSymlink: Extreme;
  readonly largestFile: Extreme;
  /** Sum of regular file sizes (hard links once). */
  readonly fileBytes: number;
}

const none: Extreme = { bytes: 0, path: '' };
const SLASH = Buffer.from('/');

/** How a walk spells paths: as strings (fast), or as bytes when a name is not UTF-8. */
interface PathOps<P> {
  readonly root: P;
  readonly read: (dir: P) => { name: P; isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean }[];
  readonly join: (dir: P, name: P) => P;
  readonly bytes: (name: P) => number;
  readonly linkBytes: (path: P) => number;
  readonly show: (rel: P) => string;
  readonly isLostFound: (name: P) => boolean;
}

/** A name that did not decode as UTF-8: the string walk cannot name it, the byte walk can. */
class NotUtf8 extends Error {}

const stringOps = (rootfsDir: string): PathOps<string> => ({
  root: rootfsDir,
  read: (dir) => {
    const entries = readdirSync(dir, { withFileTypes: true });
    for (const e of entries) if (e.name.includes('\uFFFD')) throw new NotUtf8();
    return entries;
  },
  join: (dir, name) => `${dir}/${name}`,
  bytes: (name) => Buffer.byteLength(name),
  linkBytes: (path) => Buffer.byteLength(readlinkSync(path)),
  show: (rel) => rel || '/',
  isLostFound: (name) => name === 'lost+found',
});

const bufferOps = (rootfsDir: string): PathOps<Buffer> => ({
  root: Buffer.from(rootfsDir),
  read: (dir) => readdirSync(dir, { encoding: 'buffer', withFileTypes: true }),
  join: (dir, name) => Buffer.concat([dir, SLASH, name]),
  bytes: (name) => name.length,
  linkBytes: (path) => (readlinkSync(path, { encoding: 'buffer' }) as Buffer).length,
  show: (rel) => (rel.length ? rel.toString() : '/'),
  isLostFound: (name) => name.toString() === 'lost+found',
});

/**
 * Walk `rootfsDir` (without following symlinks) and collect its statistics. Paths are strings,
 * which costs half as much as bytes; a tree with a name that is not UTF-8 is walked again as bytes.
 */
export function scanTree(rootfsDir: string): TreeStats {
  let rootStat: BigIntStats;
  try {
    rootStat = lstatSync(rootfsDir, { bigint: true });
  } catch (e) {
    throw new OsbError(`rootfs ${rootfsDir} cannot be read: ${(e as NodeJS.ErrnoException).code}`, 'build the rootfs first (osb rootfs) or point --rootfs-dir at one');
  }
  if (!rootStat.isDirectory()) throw new OsbError(`rootfs ${rootfsDir} is not a directory`, 'point --rootfs-dir at a directory tree');
  try {
    return walk(stringOps(rootfsDir));
  } catch (e) {
    if (!(e instanceof NotUtf8)) throw e;
    return walk(bufferOps(rootfsDir));
  }
}

function walk<P extends string | Buffer>(ops: PathOps<P>): TreeStats {
  const fileSizes: number[] = [];
  const directories: number[][] = [];
  const symlinkTargets: number[] = [];
  const seenInodes = new Set<string>();
  let specialFiles = 0;
  let extraHardLinks = 0;
  let fileBytes = 0;
  let hasLostFound = false;
  let longestName = none;
  let longestSymlink = none;
  let largestFile = none;

  // Iterative walk: a deep tree must not exhaust the JS stack. Paths inside the tree are made
  // only for what an error message may name.
  const stack: Array<{ abs: P; rel: P }> = [{ abs: ops.root, rel: (typeof ops.root === 'string' ? '' : Buffer.alloc(0)) as P }];
  while (stack.length) {
    const { abs, rel } = stack.pop()!;
    const entries = ops.read(abs);
    const lengths = new Array<number>(entries.length);
    directories.push(lengths);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const name = e.name as P;
      const nameBytes = ops.bytes(name);
      lengths[i] = nameBytes;
      const childAbs = ops.join(abs, name);
      if (nameBytes > longestName.bytes) longestName = { bytes: nameBytes, path: ops.show(ops.join(rel, name)) };
      // The entry type from readdir saves an lstat for everything but regular files.
      if (e.isDirectory()) {
        if (ops.show(rel) === '/' && ops.isLostFound(name)) hasLostFound = true;
        stack.push({ abs: childAbs, rel: ops.join(rel, name) });
      } else if (e.isSymbolicLink()) {
        const len = ops.linkBytes(childAbs);
        symlinkTargets.push(len);
        if (len > longestSymlink.bytes) longestSymlink = { bytes: len, path: ops.show(ops.join(rel, name)) };
      } else if (e.isFile()) {
        const st = lstatSync(childAbs);
        if (st.nlink > 1) {
          // Inode numbers can exceed 2^53: compare them exactly.
          const { dev, ino } = lstatSync(childAbs, { bigint: true });
          const key = `${dev}:${ino}`;
          if (seenInodes.has(key)) {
            extraHardLinks++;
            continue;
          }
          seenInodes.add(key);
        }
        fileSizes.push(st.size);
        fileBytes += st.size;
        if (st.size > largestFile.bytes) largestFile = { bytes: st.size, path: ops.show(ops.join(rel, name)) };
      } else {
        specialFiles++; // devices, fifos, sockets: hard links among them are rare enough to count apart
      }
    }
  }
  return { fileSizes, directories, symlinkTargets, specialFiles, extraHardLinks, hasLostFound, longestName, longestSymlink, largestFile, fileBytes };
}

/**
 * The last scan of a rootfs, kept in the workdir (WORKDIR/.osb/rootfs-scan.json) so the next
 * image can be sized from it at once and the tree walked while mkfs runs (image-builder/index.ts).
 * It is only a guess: the build checks it against a walk of the tree and sizes again if they
 * differ. It names the directory by device and inode, so a rebuilt rootfs (a new directory moved
 * into place) never meets the record of the old one.
 */
interface ScanRecord {
  readonly v: 1;
  readonly dev: string;
  readonly ino: string;
  readonly stats: TreeStats;
}

const count = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const counts = (x: unknown): x is number[] => Array.isArray(x) && x.every(count);
const extreme = (x: unknown): x is Extreme => typeof x === 'object' && x !== null && count((x as Extreme).bytes) && typeof (x as Extreme).path === 'string';

/** The record's statistics, if it is well formed: it is a file in the workdir, not osb's memory. */
function asTreeStats(x: unknown): TreeStats | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const t = x as Record<keyof TreeStats, unknown>;
  const ok = counts(t.fileSizes) && Array.isArray(t.directories) && t.directories.length > 0 && t.directories.every(counts) && counts(t.symlinkTargets)
    && count(t.specialFiles) && count(t.extraHardLinks) && typeof t.hasLostFound === 'boolean' && extreme(t.longestName) && extreme(t.longestSymlink)
    && extreme(t.largestFile) && count(t.fileBytes) && t.fileBytes === (t.fileSizes as number[]).reduce((a, b) => a + b, 0);
  return ok ? (x as TreeStats) : undefined;
}

/** The recorded statistics of `rootfsDir`, or undefined: no record, a damaged one, or one of another directory. */
export function readScanRecord(file: string, rootfsDir: string): TreeStats | undefined {
  try {
    const st = lstatSync(rootfsDir, { bigint: true });
    if (!st.isDirectory()) return undefined;
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<ScanRecord>;
    if (r?.v !== 1 || r.dev !== String(st.dev) || r.ino !== String(st.ino)) return undefined;
    return asTreeStats(r.stats);
  } catch {
    return undefined; // none yet, or not one to use: the tree is scanned first, as without it
  }
}

/** Keep `stats` as the scan of `rootfsDir`. Best effort: without the record the next image scans first. */
export function writeScanRecord(file: string, rootfsDir: string, stats: TreeStats): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const st = lstatSync(rootfsDir, { bigint: true });
    const record: ScanRecord = { v: 1, dev: String(st.dev), ino: String(st.ino), stats };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, JSON.stringify(record));
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
  }
}

/** Whether two scans describe the same tree, as far as the sizing and the limits can tell. */
export function sameStats(a: TreeStats, b: TreeStats): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
