/**
 * One pass over the rootfs collecting what the sizing needs (file sizes, directory entries,
 * symlink targets, hard links) and the extremes a filesystem may not be able to hold.
 * Names are read as bytes: a name that is not UTF-8 is measured and reported exactly.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
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

/** Walk `rootfsDir` (without following symlinks) and collect its statistics. */
export function scanTree(rootfsDir: string): TreeStats {
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
  const inside = (rel: Buffer) => (rel.length ? rel.toString() : '/');

  let rootStat: BigIntStats;
  try {
    rootStat = lstatSync(rootfsDir, { bigint: true });
  } catch (e) {
    throw new OsbError(`rootfs ${rootfsDir} cannot be read: ${(e as NodeJS.ErrnoException).code}`, 'build the rootfs first (osb rootfs) or point --rootfs-dir at one');
  }
  if (!rootStat.isDirectory()) throw new OsbError(`rootfs ${rootfsDir} is not a directory`, 'point --rootfs-dir at a directory tree');

  // Iterative walk: a deep tree must not exhaust the JS stack.
  const stack: Array<{ abs: Buffer; rel: Buffer }> = [{ abs: Buffer.from(rootfsDir), rel: Buffer.alloc(0) }];
  while (stack.length) {
    const { abs, rel } = stack.pop()!;
    const entries = readdirSync(abs, { encoding: 'buffer', withFileTypes: true });
    directories.push(entries.map((e) => e.name.length));
    for (const e of entries) {
      const name = e.name;
      const childAbs = Buffer.concat([abs, SLASH, name]);
      if (name.length > longestName.bytes) longestName = { bytes: name.length, path: inside(Buffer.concat([rel, SLASH, name])) };
      // The entry type from readdir saves an lstat for everything but regular files.
      if (e.isDirectory()) {
        if (rel.length === 0 && name.toString() === 'lost+found') hasLostFound = true;
        stack.push({ abs: childAbs, rel: Buffer.concat([rel, SLASH, name]) });
      } else if (e.isSymbolicLink()) {
        const len = (readlinkSync(childAbs, { encoding: 'buffer' }) as Buffer).length;
        symlinkTargets.push(len);
        if (len > longestSymlink.bytes) longestSymlink = { bytes: len, path: inside(Buffer.concat([rel, SLASH, name])) };
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
        if (st.size > largestFile.bytes) largestFile = { bytes: st.size, path: inside(Buffer.concat([rel, SLASH, name])) };
      } else {
        specialFiles++; // devices, fifos, sockets: hard links among them are rare enough to count apart
      }
    }
  }
  return { fileSizes, directories, symlinkTargets, specialFiles, extraHardLinks, hasLostFound, longestName, longestSymlink, largestFile, fileBytes };
}
