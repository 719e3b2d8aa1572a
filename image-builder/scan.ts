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
    const names = readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare);
    directories.push(names.map((n) => n.length));
    for (const name of names) {
      const childAbs = Buffer.concat([abs, SLASH, name]);
      const childRel = Buffer.concat([rel, SLASH, name]);
      if (name.length > longestName.bytes) longestName = { bytes: name.length, path: inside(childRel) };
      const st = lstatSync(childAbs, { bigint: true });
      if (st.isDirectory()) {
        if (rel.length === 0 && name.toString() === 'lost+found') hasLostFound = true;
        stack.push({ abs: childAbs, rel: childRel });
        continue;
      }
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        if (seenInodes.has(key)) {
          extraHardLinks++;
          continue;
        }
        seenInodes.add(key);
      }
      if (st.isFile()) {
        const size = Number(st.size);
        fileSizes.push(size);
        fileBytes += size;
        if (size > largestFile.bytes) largestFile = { bytes: size, path: inside(childRel) };
      } else if (st.isSymbolicLink()) {
        const len = (readlinkSync(childAbs, { encoding: 'buffer' }) as Buffer).length;
        symlinkTargets.push(len);
        if (len > longestSymlink.bytes) longestSymlink = { bytes: len, path: inside(childRel) };
      } else {
        specialFiles++;
      }
    }
  }
  return { fileSizes, directories, symlinkTargets, specialFiles, extraHardLinks, hasLostFound, longestName, longestSymlink, largestFile, fileBytes };
}
