/**
 * The xfs size model. Unlike ext4, xfs allocates metadata dynamically (inode chunks, directory
 * and btree blocks) and keeps a reserve pool, so this is an upper bound rather than a replay of
 * mkfs: every term rounds up. Pure functions, no I/O.
 */
import type { TreeStats } from './scan.js';

/** xfsprogs 5.19 and later refuse to make a filesystem smaller than 300 MB. */
export const XFS_MIN_BYTES = 300 * 1024 * 1024;
/** ... and a log smaller than 64 MiB (XFS_MIN_REALISTIC_LOG_BLOCKS at 4 KiB). */
const XFS_MIN_LOG_BYTES = 64 * 1024 * 1024;
const AG_MAX_BYTES = 2 ** 40;
const INODE_SIZE = 512;
const INODES_PER_CHUNK = 64;
/** Bytes of the inode left for data forks after the v3 inode core (176 bytes). */
const LITERAL_AREA = INODE_SIZE - 176;
const DIR_BLOCK = 4096; // mkfs.xfs' default directory block size (never below the fs block size)
const DIR_DATA_HEADER = 64; // xfs_dir3_data_hdr
/** Blocks per AG for headers, free-space and inode btree roots, AGFL and per-AG reservations. */
const AG_METADATA_BLOCKS = 96;

/** Log size osb asks for: mkfs.xfs' minimum, or 1/2048 of the filesystem when that is larger. */
export function xfsLogBytes(fsBytes: number): number {
  const mib = 1024 * 1024;
  return Math.max(XFS_MIN_LOG_BYTES, Math.ceil(fsBytes / 2048 / mib) * mib);
}

export function xfsAgCount(fsBytes: number): number {
  return Math.max(4, Math.ceil(fsBytes / AG_MAX_BYTES));
}

/** Directory blocks (in directory-block units) for a directory with these entry name lengths. */
function xfsDirBlocks(nameLengths: readonly number[]): number {
  // Short form (in the inode): 6-byte header, then per entry namelen + offset(2) + ftype + 4-byte inode.
  const shortForm = 6 + nameLengths.reduce((a, n) => a + n + 8, 0);
  if (shortForm <= LITERAL_AREA) return 0;
  let data = 0;
  let maxEntry = 16;
  for (const n of [1, 2, ...nameLengths]) {
    const e = (8 + 1 + n + 1 + 2 + 7) & ~7; // xfs_dir2_data_entry with ftype, 8-byte aligned
    data += e;
    if (e > maxEntry) maxEntry = e;
  }
  const leaf = 8 * (nameLengths.length + 2);
  if (DIR_DATA_HEADER + data + leaf + 8 <= DIR_BLOCK) return 1; // single-block directory
  const dataBlocks = 1 + Math.floor(data / (DIR_BLOCK - DIR_DATA_HEADER - maxEntry));
  const leafBlocks = Math.ceil(leaf / (DIR_BLOCK - 64));
  return dataBlocks + leafBlocks + 1 + (leafBlocks > 1 ? 1 : 0); // + free index, + node block
}

/** Blocks the tree needs on xfs with block size `bs`, before filesystem metadata. */
export function xfsTreeBlocks(tree: TreeStats, bs: number): number {
  let blocks = 0;
  for (const size of tree.fileSizes) {
    blocks += Math.ceil(size / bs);
    if (size > 1 << 30) blocks += 1 + Math.ceil(size / 2 ** 33); // bmap btree block(s) for huge files
  }
  for (const len of tree.symlinkTargets) if (len > LITERAL_AREA) blocks += Math.ceil(len / bs);
  const dirBlockFs = Math.max(1, DIR_BLOCK / bs);
  for (const names of tree.directories) blocks += xfsDirBlocks(names) * dirBlockFs;
  return blocks;
}

/** Inodes the tree needs (root and every entry with its own inode). */
export function xfsTreeInodes(tree: TreeStats): number {
  return tree.directories.length + tree.fileSizes.length + tree.symlinkTargets.length + tree.specialFiles;
}

/**
 * Blocks of an xfs filesystem of `fsBytes` that file data can never use: log, AG metadata, the
 * reserve pool (min(5 %, 8192 blocks), xfs_default_resblks) and inode chunks for `inodes` inodes.
 */
export function xfsOverheadBlocks(fsBytes: number, bs: number, inodes: number): number {
  const dblocks = Math.floor(fsBytes / bs);
  const ags = xfsAgCount(fsBytes);
  const chunkBlocks = (INODES_PER_CHUNK * INODE_SIZE) / bs;
  const inodeBlocks = (Math.ceil(inodes / INODES_PER_CHUNK) + ags) * chunkBlocks;
  const resblks = Math.min(Math.ceil(dblocks / 20), 8192);
  return xfsLogBytes(fsBytes) / bs + ags * AG_METADATA_BLOCKS + resblks + inodeBlocks;
}
