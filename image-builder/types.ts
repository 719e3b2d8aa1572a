/** The closed sets image-builder accepts; index.ts re-exports them. */
export type FsType = 'ext4' | 'xfs' | 'erofs';
export type PartitionTable = 'mbr' | 'gpt';
export type ImageFormat = 'raw' | 'qcow2';

export const FS_TYPES: readonly FsType[] = ['ext4', 'xfs', 'erofs'];
export const PARTITION_TABLES: readonly PartitionTable[] = ['mbr', 'gpt'];
export const IMAGE_FORMATS: readonly ImageFormat[] = ['raw', 'qcow2'];
/** ext4 and xfs block sizes osb builds: the kernel mounts block sizes up to the page size (4 KiB). */
export const BLOCK_SIZES: readonly number[] = [1024, 2048, 4096];

export const MiB = 1024 * 1024;
