/**
 * Image sizing in one pass: the filesystem size comes from the tree and the filesystem's own
 * layout arithmetic (ext4-sizing.ts, xfs-sizing.ts) or, for erofs, from the image mkfs.erofs
 * wrote; the disk adds the partition table and, with DAX, the 2 MiB PFN header. Pure.
 */
import { OsbError } from '../lib/errors.js';
import { ext4Geometry, ext4InodeRequest, ext4TreeNeeds } from './ext4-sizing.js';
import type { ImageOptions } from './options.js';
import type { TreeStats } from './scan.js';
import { MiB, type PartitionTable } from './types.js';
import { hashTreeBytes, VERITY_BLOCK } from './verity.js';
import { XFS_MIN_BYTES, xfsOverheadBlocks, xfsTreeBlocks, xfsTreeInodes } from './xfs-sizing.js';

/** Space before the root partition: the table, with the partition aligned to 1 MiB (as Kata's `mkpart primary 1MiB -1s`). */
export const PARTITION_START = MiB;
/** GPT keeps a backup table in the last 33 sectors; osb reserves the last MiB to keep sizes whole. */
export const GPT_TAIL = MiB;
/** The DAX header in front of the disk: dataoff and alignment of the PFN info block. */
export const DAX_HEADER = 2 * MiB;

/** The options sizing reads (see ImageOptions), plus what was measured. */
export interface SizingInput extends Pick<ImageOptions, 'fsType' | 'blockSize' | 'rootFreeSpaceMiB' | 'imageSizeMiB' | 'partitionTable' | 'dax' | 'measured'> {
  /** The rootfs statistics (ext4 and xfs). */
  readonly tree?: TreeStats;
  /** Size of the filesystem image mkfs.erofs wrote (erofs). */
  readonly erofsBytes?: number;
}

export interface DiskLayout {
  /** Size of the image file. */
  readonly totalBytes: number;
  /** The DAX header in front of the partitioned disk: 0 or 2 MiB. */
  readonly headerBytes: number;
  /** The partitioned disk that follows the header (the whole file without DAX). */
  readonly diskBytes: number;
  /** Absolute offset of the root partition in the file. */
  readonly partitionOffset: number;
  readonly partitionBytes: number;
  /** Measured rootfs: the dm-verity hash partition (p2) right after the root partition; 0 without. */
  readonly hashOffset: number;
  readonly hashBytes: number;
}

/** The hash partition for a root partition of `partitionBytes`: the tree, rounded up to a MiB. */
export const hashPartitionBytes = (partitionBytes: number): number => Math.ceil(hashTreeBytes(partitionBytes / VERITY_BLOCK) / MiB) * MiB;

export interface ImageSize {
  readonly layout: DiskLayout;
  /** The smallest total image size (MiB) that holds this rootfs with these options. */
  readonly neededMiB: number;
  /** ext4: inodes to request with `mke2fs -N`. */
  readonly ext4Inodes?: number;
}

/** Margin for what the tree scan cannot see (extended attributes stored outside the inode). */
const ext4MarginBlocks = (treeBlocks: number) => Math.ceil(treeBlocks * 0.002) + 16;
/**
 * xfs is sized by an upper bound already, but where files land depends on the order cp writes
 * them (the host's directory order): a Debian tree that fitted from one copy ran out of space
 * from another with a 1 % margin. 5 % + 8 MiB covers btree growth and allocation placement.
 */
const xfsMargin = (bytes: number) => Math.ceil(bytes * 0.05) + 8 * MiB;

/** The disk around a partition of `partitionBytes` (a whole number of MiB). */
export function layoutFor(partitionBytes: number, table: PartitionTable, dax: boolean, measured = false): DiskLayout {
  const tail = table === 'gpt' ? GPT_TAIL : 0;
  const hashBytes = measured ? hashPartitionBytes(partitionBytes) : 0;
  if (measured) {
    return { totalBytes: PARTITION_START + partitionBytes + hashBytes + tail, headerBytes: 0, diskBytes: PARTITION_START + partitionBytes + hashBytes + tail, partitionOffset: PARTITION_START, partitionBytes, hashOffset: PARTITION_START + partitionBytes, hashBytes };
  }
  let diskBytes = PARTITION_START + partitionBytes + tail;
  // The PFN block's end_trunc stays 0 only when the namespace ends on the 2 MiB alignment
  // (nd_pfn_validate, drivers/nvdimm/pfn_devs.c); the partition takes the spare MiB.
  if (dax) diskBytes = Math.ceil(diskBytes / DAX_HEADER) * DAX_HEADER;
  const headerBytes = dax ? DAX_HEADER : 0;
  return { totalBytes: headerBytes + diskBytes, headerBytes, diskBytes, partitionOffset: headerBytes + PARTITION_START, partitionBytes: diskBytes - PARTITION_START - tail, hashOffset: 0, hashBytes: 0 };
}

function layoutForTotal(totalBytes: number, table: PartitionTable, dax: boolean, measured = false): DiskLayout | undefined {
  if (measured) {
    // The largest root partition whose hash partition still fits in the total.
    for (let p = totalBytes - PARTITION_START - (table === 'gpt' ? GPT_TAIL : 0); p >= MiB; p -= MiB) {
      const l = layoutFor(p, table, false, true);
      if (l.totalBytes <= totalBytes) return { ...l, totalBytes, diskBytes: totalBytes };
    }
    return undefined;
  }
  const headerBytes = dax ? DAX_HEADER : 0;
  const diskBytes = totalBytes - headerBytes;
  const partitionBytes = diskBytes - PARTITION_START - (table === 'gpt' ? GPT_TAIL : 0);
  if (partitionBytes < MiB || (dax && diskBytes % DAX_HEADER)) return undefined;
  return { totalBytes, headerBytes, diskBytes, partitionOffset: headerBytes + PARTITION_START, partitionBytes, hashOffset: 0, hashBytes: 0 };
}

/** ext4TreeNeeds walks every file: remember it per tree and block size for the size search. */
const needsCache = new WeakMap<TreeStats, Map<number, { blocks: number; inodes: number }>>();
function treeNeeds(tree: TreeStats, bs: number): { blocks: number; inodes: number } {
  let byBs = needsCache.get(tree);
  if (!byBs) needsCache.set(tree, (byBs = new Map()));
  let n = byBs.get(bs);
  if (!n) byBs.set(bs, (n = ext4TreeNeeds(tree, bs)));
  return n;
}

/**
 * Does a filesystem of `fsBytes` hold the tree (plus the free space asked for)? Returns false,
 * or for ext4 the inode count to request (else 0).
 */
function fits(input: SizingInput, fsBytes: number): number | false {
  const bs = input.blockSize;
  const freeBytes = input.rootFreeSpaceMiB * MiB;
  switch (input.fsType) {
    case 'erofs':
      return fsBytes >= input.erofsBytes! ? 0 : false;
    case 'ext4': {
      const needs = treeNeeds(input.tree!, bs);
      const inodes = ext4InodeRequest(needs.inodes, freeBytes);
      const blocks = Math.floor(fsBytes / bs);
      let request = inodes;
      let g = ext4Geometry(blocks, bs, request);
      // mke2fs rounds inodes per group down to a multiple of 8: ask for up to 8 more per group.
      if (g && g.inodeCount < inodes) g = ext4Geometry(blocks, bs, (request = inodes + 8 * g.groups));
      if (!g || g.inodeCount < inodes) return false;
      return g.availableBlocks >= needs.blocks + ext4MarginBlocks(needs.blocks) + Math.ceil(freeBytes / bs) ? request : false;
    }
    case 'xfs': {
      if (fsBytes < XFS_MIN_BYTES) return false;
      const need = (xfsTreeBlocks(input.tree!, bs) + xfsOverheadBlocks(fsBytes, bs, xfsTreeInodes(input.tree!))) * bs + freeBytes;
      return fsBytes >= need + xfsMargin(need) ? 0 : false;
    }
  }
}

/** A first guess at the filesystem size in MiB, below the answer, to start the search from. */
function lowerBoundMiB(input: SizingInput): number {
  if (input.fsType === 'erofs') return Math.ceil(input.erofsBytes! / MiB);
  if (input.fsType === 'xfs') return XFS_MIN_BYTES / MiB;
  return Math.max(1, Math.floor(((treeNeeds(input.tree!, input.blockSize).blocks * input.blockSize) + input.rootFreeSpaceMiB * MiB) / MiB));
}

/**
 * The image size for a rootfs: the smallest whole-MiB filesystem that holds the tree, the disk
 * around it, or the size asked for when that is large enough (else an OsbError giving the size
 * needed). The search walks filesystem sizes with a pure function; nothing is built to try.
 */
export function computeImageSize(input: SizingInput): ImageSize {
  if (input.fsType === 'erofs' ? input.erofsBytes === undefined : !input.tree) {
    throw new Error(`computeImageSize: ${input.fsType} needs ${input.fsType === 'erofs' ? 'erofsBytes' : 'tree'}`);
  }
  const smallestFrom = (startMiB: number): { layout: DiskLayout; inodes: number } => {
    for (let mib = Math.max(1, startMiB); ; mib++) {
      if (mib > 1 << 24) throw new OsbError('no image size up to 16 TiB holds this rootfs', 'check --rootfs-dir and the free space asked for');
      const layout = layoutFor(mib * MiB, input.partitionTable, input.dax, input.measured);
      // With DAX the partition may be a MiB larger than asked: the filesystem fills it.
      const inodes = fits(input, layout.partitionBytes);
      if (inodes !== false) return { layout, inodes };
    }
  };
  const smallest = smallestFrom(lowerBoundMiB(input));
  const neededMiB = smallest.layout.totalBytes / MiB;
  const result = (layout: DiskLayout, inodes: number): ImageSize => ({ layout, neededMiB, ext4Inodes: inodes || undefined });
  if (input.imageSizeMiB === undefined) return result(smallest.layout, smallest.inodes);

  const asked = input.imageSizeMiB;
  const tooSmall = (needed: number, why = '') =>
    new OsbError(`image size ${asked} MiB is too small for this rootfs: it needs at least ${needed} MiB${why}`, `set the image size to ${needed} MiB or more, or leave it unset to size the image automatically`);
  if (!Number.isInteger(asked) || asked <= 0) throw new OsbError(`image size ${asked} MiB is not a positive whole number of MiB`, `use e.g. ${neededMiB}`);
  if (asked < neededMiB) throw tooSmall(neededMiB);
  if (input.dax && asked % 2) throw new OsbError(`image size ${asked} MiB is odd: with the DAX header the image must be a multiple of 2 MiB (the PFN alignment)`, `use ${asked + 1} MiB`);
  const layout = layoutForTotal(asked * MiB, input.partitionTable, input.dax, input.measured)!;
  const inodes = fits(input, layout.partitionBytes);
  // A larger ext4 can lose its last block group when that group would be too small to be useful.
  if (inodes === false) {
    const next = smallestFrom(layout.partitionBytes / MiB + 1);
    throw tooSmall(next.layout.totalBytes / MiB, ` (at ${asked} MiB the filesystem's last block group is dropped)`);
  }
  return result(layout, inodes);
}
