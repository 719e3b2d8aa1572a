/**
 * The measured rootfs (Kata's MEASURED_ROOTFS): a dm-verity hash tree of the root partition in
 * partition 2, made by `veritysetup format --no-superblock` with a salt derived from the input
 * hash, so the same inputs give the same root hash (Kata's salt is random). The kernel sets the
 * verity device up itself from `dm-mod.create=` (Documentation/admin-guide/device-mapper/
 * dm-init.rst and verity.rst), with no initramfs, and mounts it as root=/dev/dm-0.
 */
import { OsbError } from '../lib/errors.js';
import { VERITY_BLOCK, VERITY_HASH, type VerityParams } from '../lib/verity.js';

/** Making and verifying the tree is lib/verity.ts's, shared with sysext-builder. */
export { formatVerity, verifyVerity, veritySalt, VERITY_BLOCK, VERITY_HASH, type VerityParams } from '../lib/verity.js';

/** sha256 digests per hash block: 4096 / 32 (veritysetup rounds the digest size up to a power of two). */
const DIGESTS_PER_BLOCK = VERITY_BLOCK / 32;

/** Size in bytes of the hash tree for `dataBlocks` (format 1, no superblock, hash at block 0). */
export function hashTreeBytes(dataBlocks: number): number {
  let blocks = 0;
  let level = dataBlocks;
  // One data block needs no tree: its own digest is the root hash.
  while (level > 1) {
    level = Math.ceil(level / DIGESTS_PER_BLOCK);
    blocks += level;
  }
  return blocks * VERITY_BLOCK;
}

/**
 * The dm-verity table for the root: `<start> <sectors> verity <version> <dev> <hash_dev>
 * <data_block_size> <hash_block_size> <num_data_blocks> <hash_start_block> <algorithm> <digest> <salt>`.
 */
export function verityTable(p: VerityParams, dataDev = '/dev/vda1', hashDev = '/dev/vda2'): string {
  const sectors = (p.dataBlocks * p.dataBlockSize) / 512;
  return `0 ${sectors} verity 1 ${dataDev} ${hashDev} ${p.dataBlockSize} ${p.hashBlockSize} ${p.dataBlocks} 0 ${p.hashAlgorithm} ${p.rootHash} ${p.salt}`;
}

/** The kernel command line that makes the verity device (dm-init) and mounts it as root. */
export function verityCmdline(p: VerityParams, dataDev = '/dev/vda1', hashDev = '/dev/vda2'): string {
  return `dm-mod.create="root,,,ro,${verityTable(p, dataDev, hashDev)}" root=/dev/dm-0`;
}

/** Kata's kernel_verity_params value: comma-separated key=value. */
export const kernelVerityParams = (p: VerityParams): string =>
  `root_hash=${p.rootHash},salt=${p.salt},data_blocks=${p.dataBlocks},data_block_size=${p.dataBlockSize},hash_block_size=${p.hashBlockSize}`;

/** root_hash.txt: one key=value per line (split at the first '='). */
export function rootHashFile(p: VerityParams): string {
  return [
    `root_hash=${p.rootHash}`,
    `salt=${p.salt}`,
    `data_blocks=${p.dataBlocks}`,
    `data_block_size=${p.dataBlockSize}`,
    `hash_block_size=${p.hashBlockSize}`,
    `hash_algorithm=${p.hashAlgorithm}`,
    `kernel_verity_params=${kernelVerityParams(p)}`,
    `kernel_cmdline=${verityCmdline(p)}`,
    '',
  ].join('\n');
}

/** Parse root_hash.txt back (osb boot, tests). */
export function parseRootHashFile(text: string): VerityParams {
  const kv = new Map(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const need = (k: string): string => {
    const v = kv.get(k);
    if (!v) throw new OsbError(`root hash file has no ${k}=`, 'rebuild the image with --measured-rootfs');
    return v;
  };
  return { rootHash: need('root_hash'), salt: need('salt'), dataBlocks: Number(need('data_blocks')), dataBlockSize: Number(need('data_block_size')), hashBlockSize: Number(need('hash_block_size')), hashAlgorithm: kv.get('hash_algorithm') ?? VERITY_HASH };
}
