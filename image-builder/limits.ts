/**
 * What each filesystem cannot hold, checked against the tree before anything is written, so the
 * user gets the offending path instead of a mkfs error deep in a log.
 */
import { OsbError } from '../lib/errors.js';
import type { Extreme, TreeStats } from './scan.js';
import type { FsType } from './types.js';

interface Limits {
  /** Longest name in bytes (EXT4_NAME_LEN, XFS MAXNAMELEN - 1, EROFS_NAME_LEN). */
  readonly name: number;
  /** Longest symlink target in bytes. */
  readonly symlink: number;
  /** Largest regular file in bytes. */
  readonly file: number;
}

export function limitsFor(fsType: FsType, blockSize: number): Limits {
  switch (fsType) {
    // ext2fs_symlink refuses a target of a block or more; extents address 2^32 blocks.
    case 'ext4':
      return { name: 255, symlink: blockSize - 1, file: 2 ** 32 * blockSize - blockSize };
    // XFS_SYMLINK_MAXLEN; files up to 8 EiB.
    case 'xfs':
      return { name: 255, symlink: 1024, file: 2 ** 63 - 1 };
    // A symlink target is read back into one page (erofs_read_symlink / PATH_MAX).
    case 'erofs':
      return { name: 255, symlink: 4095, file: 2 ** 63 - 1 };
  }
}

/** Throw an OsbError naming the first path the filesystem cannot hold. */
export function assertTreeFits(tree: TreeStats, fsType: FsType, blockSize: number): void {
  const lim = limitsFor(fsType, blockSize);
  const check = (e: Extreme, max: number, what: string) => {
    if (e.bytes > max) {
      throw new OsbError(
        `${fsType} cannot hold ${e.path}: its ${what} is ${e.bytes} bytes, the limit is ${max}`,
        `rename or remove ${e.path} in the rootfs, or choose another filesystem type`,
      );
    }
  };
  check(tree.longestName, lim.name, 'name');
  check(tree.longestSymlink, lim.symlink, `symlink target${fsType === 'ext4' ? ` (at block size ${blockSize})` : ''}`);
  check(tree.largestFile, lim.file, 'size');
}
