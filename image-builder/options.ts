/** The public options of buildImage, their defaults and their validation. */
import { UsageError } from '../lib/errors.js';
import type { VerityParams } from './verity.js';
import { BLOCK_SIZES, FS_TYPES, IMAGE_FORMATS, PARTITION_TABLES, type FsType, type ImageFormat, type PartitionTable } from './types.js';

export interface ImageOptions {
  /** The rootfs directory tree to put into the image. */
  readonly rootfsDir: string;
  /** Final path of the image, written atomically (e.g. workdir/osb.img). */
  readonly output: string;
  /** Root filesystem. @default 'ext4' */
  readonly fsType: FsType;
  /** ext4/xfs block size in bytes (erofs always uses 4096). @default 4096 */
  readonly blockSize: number;
  /**
   * Free space left in the root filesystem after the rootfs, in MiB (Kata's ROOT_FREE_SPACE).
   * Ignored for erofs, which is read-only. @default 0
   */
  readonly rootFreeSpaceMiB: number;
  /** Total image size in MiB; rejected, with the size needed, when too small. @default undefined (the smallest that fits) */
  readonly imageSizeMiB?: number;
  /** @default 'mbr' */
  readonly partitionTable: PartitionTable;
  /** Put the NVDIMM PFN header in front so the image can be mapped with DAX (Kata's default). @default true */
  readonly dax: boolean;
  /** @default 'raw' */
  readonly format: ImageFormat;
  /**
   * The guest's arch (osb names): picks the GPT root partition type. Arches whose VMs have no
   * nvdimm (aarch64 "virt") cannot take the DAX header. @default 'x86_64'
   */
  readonly arch?: string;
  /**
   * Measured rootfs (Kata's MEASURED_ROOTFS): a dm-verity hash partition (p2) for the root
   * partition, its salt derived from `seed`, and the root hash in the result (and in
   * `rootHashOutput`). Booted over virtio-blk only: no DAX header with it. @default false
   */
  readonly measured?: boolean;
  /** Measured: where to write root_hash.txt (atomically). @default undefined (not written) */
  readonly rootHashOutput?: string;
  /** Hex input hash: filesystem UUIDs, hash seeds and disk identifiers are derived from it. */
  readonly seed: string;
  /**
   * Work to do beside the image's longest step (the SBOM's package reading): called once, on a
   * later turn of the event loop than the mkfs it goes beside, so the tool starts first.
   */
  readonly alongside?: () => void;
  /**
   * Where the last scan of the rootfs is kept (image-builder/scan.ts): the image is sized from it
   * at once and checked against a walk of the tree beside mkfs. @default undefined (scan first)
   */
  readonly scanRecord?: string;
}

export interface ImageResult {
  readonly path: string;
  /** Size of the disk in bytes (the raw file; for qcow2 the virtual disk size). */
  readonly sizeBytes: number;
  /** Byte offset of the root partition in the disk (3 MiB with the DAX header, else 1 MiB). */
  readonly partitionOffset: number;
  readonly fsType: FsType;
  readonly fsUuid: string;
  /** Measured: the dm-verity parameters (root hash, salt, blocks). */
  readonly verity?: VerityParams;
}

const oneOf = <T extends string>(what: string, value: unknown, valid: readonly T[]): T => {
  if (!valid.includes(value as T)) throw new UsageError(`unknown ${what} '${String(value)}': valid ones are ${valid.join(', ')}`);
  return value as T;
};

/** Check every option a caller could get wrong; returns them with defaults applied. */
export function validateOptions(opts: Partial<ImageOptions> & Pick<ImageOptions, 'rootfsDir' | 'output' | 'seed'>): ImageOptions {
  const o: ImageOptions = {
    fsType: 'ext4', blockSize: 4096, rootFreeSpaceMiB: 0, partitionTable: 'mbr', dax: true, format: 'raw',
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
  } as ImageOptions;
  oneOf('filesystem type', o.fsType, FS_TYPES);
  oneOf('partition table', o.partitionTable, PARTITION_TABLES);
  oneOf('image format', o.format, IMAGE_FORMATS);
  if (o.fsType !== 'erofs' && !BLOCK_SIZES.includes(o.blockSize)) throw new UsageError(`block size ${o.blockSize} is not supported for ${o.fsType}: valid ones are ${BLOCK_SIZES.join(', ')}`);
  if (!Number.isInteger(o.rootFreeSpaceMiB) || o.rootFreeSpaceMiB < 0) throw new UsageError(`root free space ${o.rootFreeSpaceMiB} MiB is not a whole number of MiB ≥ 0`);
  if (o.imageSizeMiB !== undefined && (!Number.isInteger(o.imageSizeMiB) || o.imageSizeMiB <= 0)) throw new UsageError(`image size ${o.imageSizeMiB} MiB is not a positive whole number of MiB`);
  if (o.dax && o.arch !== undefined && o.arch !== 'x86_64') throw new UsageError(`the DAX header is for QEMU nvdimm, which ${o.arch} guests do not have`, 'use --no-dax (osb boot attaches the image over virtio-blk)');
  if (o.measured && o.dax) throw new UsageError('a measured rootfs boots over virtio-blk from /dev/dm-0: it takes no DAX header', 'use --no-dax with --measured-rootfs');
  if (!/^[0-9a-fA-F]+$/.test(o.seed)) throw new UsageError(`image seed '${o.seed}' is not a hex string`, 'pass the input hash of the build');
  if (!o.rootfsDir || !o.output) throw new UsageError('buildImage needs rootfsDir and output');
  return o;
}
