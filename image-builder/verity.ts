/**
 * The measured rootfs (Kata's MEASURED_ROOTFS): a dm-verity hash tree of the root partition in
 * partition 2, made by `veritysetup format --no-superblock` with a salt derived from the input
 * hash, so the same inputs give the same root hash (Kata's salt is random). The kernel sets the
 * verity device up itself from `dm-mod.create=` (Documentation/admin-guide/device-mapper/
 * dm-init.rst and verity.rst), with no initramfs, and mounts it as root=/dev/dm-0.
 */
import { createHash } from 'node:crypto';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';

/** dm-verity data and hash block size (Kata's kernel_verity_params use 4096 for both). */
export const VERITY_BLOCK = 4096;
export const VERITY_HASH = 'sha256';
/** sha256 digests per hash block: 4096 / 32 (veritysetup rounds the digest size up to a power of two). */
const DIGESTS_PER_BLOCK = VERITY_BLOCK / 32;

/** What a runtime needs to set the verity root up: Kata's kernel_verity_params fields. */
export interface VerityParams {
  readonly rootHash: string;
  readonly salt: string;
  readonly dataBlocks: number;
  readonly dataBlockSize: number;
  readonly hashBlockSize: number;
  readonly hashAlgorithm: string;
}

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

/** 32 bytes of salt (veritysetup's default length) from the build's input hash. */
export function veritySalt(seed: string): string {
  return createHash('sha256').update(`osb-image:verity-salt:${seed}`).digest('hex');
}

/** Run `veritysetup format` on a data file into a hash file; returns the root hash it printed. */
export async function formatVerity(ctx: BuildContext, dataPath: string, hashPath: string, dataBlocks: number, salt: string): Promise<string> {
  const r = await ctx.run(
    ['veritysetup', 'format', '--no-superblock', `--hash=${VERITY_HASH}`, `--data-block-size=${VERITY_BLOCK}`, `--hash-block-size=${VERITY_BLOCK}`, `--data-blocks=${dataBlocks}`, `--salt=${salt}`, dataPath, hashPath],
    { hint: 'veritysetup is in cryptsetup-bin (apt-get install cryptsetup-bin)' },
  );
  if (ctx.dryRun) return '0'.repeat(64);
  const m = /^Root hash:\s+([0-9a-f]{64})\s*$/m.exec(r.stdout);
  if (!m) throw new OsbError(`veritysetup format printed no root hash: ${r.stdout.trim().split('\n').slice(-3).join(' | ')}`, 'check the veritysetup version (cryptsetup 2.x is needed)');
  return m[1]!;
}

/** Read the tree back with `veritysetup verify` (DESIGN principle 9). */
export async function verifyVerity(ctx: BuildContext, dataPath: string, hashPath: string, p: VerityParams): Promise<void> {
  const r = await ctx.run(
    ['veritysetup', 'verify', '--no-superblock', `--hash=${p.hashAlgorithm}`, `--data-block-size=${p.dataBlockSize}`, `--hash-block-size=${p.hashBlockSize}`, `--data-blocks=${p.dataBlocks}`, `--salt=${p.salt}`, dataPath, hashPath, p.rootHash],
    { readOnly: true, allowFail: true, quiet: true },
  );
  if (r.exitCode !== 0) throw new OsbError(`veritysetup verify rejects the hash tree osb just wrote: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`, 'this is a bug in osb; please report it with the log');
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
