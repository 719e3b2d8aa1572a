/**
 * The ext4 size model: how many blocks `mke2fs -d` needs for a tree and how many of a given
 * filesystem's blocks are metadata, following e2fsprogs' own layout arithmetic
 * (lib/ext2fs/initialize.c: ext2fs_initialize, calc_reserved_gdt_blocks; misc/mke2fs.c:
 * create_lost_and_found; misc/create_inode.c: populate_fs) for the feature set osb passes.
 * Pure functions, no I/O.
 */
import type { TreeStats } from './scan.js';

/** The ext4 features osb creates, spelled out so a host's mke2fs.conf cannot change the layout. */
export const EXT4_FEATURES = [
  'has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'extent', '64bit', 'flex_bg',
  'sparse_super', 'large_file', 'huge_file', 'dir_nlink', 'extra_isize', 'metadata_csum',
] as const;
export const EXT4_INODE_SIZE = 256;
/** Inodes 1-10 are reserved, 11 is lost+found (EXT2_GOOD_OLD_FIRST_INO). */
const FIRST_FREE_INODE = 11;
const DESC_SIZE = 64; // 64bit feature: EXT2_MIN_DESC_SIZE_64BIT
const CSUM_TAIL = 12; // metadata_csum: struct ext2_dir_entry_tail at the end of each directory block
const MAX_EXTENT_LEN = 32768; // EXT_INIT_MAX_LEN
const IN_INODE_EXTENTS = 4;
/** Bytes of free space per spare inode, mke2fs' default inode_ratio. */
const INODE_RATIO = 16384;
const SPARE_INODES = 32;

/** A directory entry's on-disk length: 8-byte header + name, 4-byte aligned (EXT2_DIR_REC_LEN). */
const recLen = (nameLen: number) => (8 + nameLen + 3) & ~3;

/** `ext2fs_bg_has_super` with sparse_super: groups 0, 1 and powers of 3, 5 and 7. */
export function groupHasSuper(g: number): boolean {
  if (g <= 1) return true;
  if (!(g & 1)) return false;
  for (const base of [3, 5, 7]) {
    let p = base;
    while (p < g) p *= base;
    if (p === g) return true;
  }
  return false;
}

/**
 * Journal size osb asks for. The rootfs is mounted read-only by Kata, so a journal larger than
 * jbd2's minimum (1024 blocks) only costs space below 1 GiB; above that e2fsprogs' default table
 * (ext2fs_default_journal_size) applies.
 */
export function ext4JournalBlocks(fsBlocks: number, blockSize: number): number {
  if (fsBlocks * blockSize < 1 << 30) return 1024;
  if (fsBlocks < 256 * 1024) return 4096;
  if (fsBlocks < 512 * 1024) return 8192;
  if (fsBlocks < 4096 * 1024) return 16384;
  if (fsBlocks < 8192 * 1024) return 32768;
  if (fsBlocks < 16384 * 1024) return 65536;
  if (fsBlocks < 32768 * 1024) return 131072;
  return 262144;
}

/** Blocks a directory with entries of these name lengths occupies after `mke2fs -d` fills it. */
export function ext4DirBlocks(nameLengths: readonly number[], blockSize: number): number {
  const usable = blockSize - CSUM_TAIL;
  let total = 24; // "." and ".."
  let maxRec = 12;
  for (const n of nameLengths) {
    const r = recLen(n);
    total += r;
    if (r > maxRec) maxRec = r;
  }
  if (total <= usable) return 1;
  // ext2fs_link only adds a block when no block has room for the entry being linked, so every
  // block but the last holds more than `usable - maxRec` bytes whatever order entries come in.
  return 1 + Math.floor(total / (usable - maxRec + 4));
}

/** Extent tree blocks (leaves, and an index level if needed) for an inode with this many extents. */
function extentTreeBlocks(extents: number, blockSize: number): number {
  if (extents <= IN_INODE_EXTENTS) return 0;
  const perLeaf = Math.floor((blockSize - 12) / 12);
  const leaves = Math.ceil(extents / perLeaf);
  return leaves + (leaves > IN_INODE_EXTENTS ? Math.ceil(leaves / perLeaf) : 0);
}

/** What the tree itself needs: data, directory, symlink and extent blocks, and inodes. */
export function ext4TreeNeeds(tree: TreeStats, blockSize: number): { blocks: number; inodes: number } {
  const bpg = 8 * blockSize;
  let blocks = 0;
  for (const size of tree.fileSizes) {
    const n = Math.ceil(size / blockSize);
    blocks += n;
    // Runs break at the 32768-block extent limit and where the allocator meets group
    // metadata (backup superblocks) or the journal.
    blocks += extentTreeBlocks(Math.ceil(n / MAX_EXTENT_LEN) + Math.ceil(n / bpg) + 2, blockSize);
  }
  for (const names of tree.directories) {
    const n = ext4DirBlocks(names, blockSize);
    // Directory blocks are added one at a time between file writes: assume each is its own extent.
    blocks += n + extentTreeBlocks(n, blockSize);
  }
  // mke2fs creates lost+found (16 KiB, at most 12 blocks) before filling; one from the tree reuses it.
  blocks += Math.min(12, Math.max(2, Math.ceil(16384 / blockSize)));
  for (const len of tree.symlinkTargets) if (len >= 60) blocks += 1; // < 60 bytes: fast symlink in i_block
  const inodes = FIRST_FREE_INODE + (tree.directories.length - 1) + tree.fileSizes.length + tree.symlinkTargets.length + tree.specialFiles - (tree.hasLostFound ? 1 : 0);
  return { blocks, inodes };
}

/** Inodes to ask mke2fs for: what the tree uses plus one per 16 KiB of requested free space. */
export function ext4InodeRequest(usedInodes: number, freeBytes: number): number {
  return usedInodes + Math.ceil(freeBytes / INODE_RATIO) + SPARE_INODES;
}

export interface Ext4Geometry {
  /** Blocks in the filesystem (mke2fs may drop a last group too small to be useful). */
  readonly blocks: number;
  readonly groups: number;
  readonly inodesPerGroup: number;
  readonly inodeCount: number;
  readonly journalBlocks: number;
  /** Blocks holding superblocks, descriptors, bitmaps, inode tables, journal and resize inode. */
  readonly overheadBlocks: number;
  /** blocks - overheadBlocks: what files and directories can use. */
  readonly availableBlocks: number;
}

/** The layout mke2fs makes for `blocks` blocks and `inodes` requested inodes, or undefined if it cannot. */
export function ext4Geometry(blocksRequested: number, blockSize: number, inodes: number): Ext4Geometry | undefined {
  const firstData = blockSize === 1024 ? 1 : 0;
  const bpg = 8 * blockSize;
  const descPerBlock = blockSize / DESC_SIZE;
  let blocks = blocksRequested;
  for (;;) {
    const groups = Math.ceil((blocks - firstData) / bpg);
    if (groups < 1) return undefined;
    const descBlocks = Math.ceil(groups / descPerBlock);
    const maxBlocks = blocks < 0xffffffff / 1024 ? blocks * 1024 : 0xffffffff;
    const reservedGdt = Math.max(0, Math.min(blockSize / 4, Math.ceil(Math.ceil((maxBlocks - firstData) / bpg) / descPerBlock) - descBlocks));
    let ipg = Math.ceil(inodes / groups);
    if (ipg > bpg) return undefined; // more inodes than an inode bitmap block can track
    let itb = Math.ceil((ipg * EXT4_INODE_SIZE) / blockSize);
    ipg = Math.floor((itb * blockSize) / EXT4_INODE_SIZE) & ~7;
    itb = Math.ceil((ipg * EXT4_INODE_SIZE) / blockSize);
    const superBlocks = 1 + descBlocks + reservedGdt;
    const lastOverhead = 2 + itb + (groupHasSuper(groups - 1) ? superBlocks : 0);
    const rem = (blocks - firstData) % bpg;
    if (rem && rem < lastOverhead + 50) {
      if (groups === 1) return undefined;
      blocks -= rem; // mke2fs drops the last group (ext2fs_initialize, "retry")
      continue;
    }
    let overhead = firstData + groups * (2 + itb);
    for (let g = 0; g < groups; g++) if (groupHasSuper(g)) overhead += superBlocks;
    if (reservedGdt > 0) overhead += 1; // the resize inode's double-indirect block
    const journalBlocks = ext4JournalBlocks(blocks, blockSize);
    // mke2fs (figure_journal_size): "Total journal size too big for filesystem" above half the free blocks.
    if (journalBlocks > (blocks - overhead) / 2) return undefined;
    overhead += journalBlocks + extentTreeBlocks(Math.ceil(journalBlocks / MAX_EXTENT_LEN) + 2, blockSize);
    return { blocks, groups, inodesPerGroup: ipg, inodeCount: ipg * groups, journalBlocks, overheadBlocks: overhead, availableBlocks: blocks - overhead };
  }
}
