/**
 * dm-verity hash trees made and read back with veritysetup, for every builder that writes one:
 * a guest image's root (image-builder, Kata's MEASURED_ROOTFS), a system extension's /usr and a
 * Kata guest extension image (sysext-builder). The salt comes from the input hash, so the same
 * inputs give the same root hash (Kata's own salt is random).
 */
import { createHash } from 'node:crypto';
import type { BuildContext } from './context.js';
import { OsbError } from './errors.js';

/** dm-verity data and hash block size (Kata's kernel_verity_params use 4096 for both). */
export const VERITY_BLOCK = 4096;
export const VERITY_HASH = 'sha256';

/** What a runtime needs to set the verity device up: Kata's kernel_verity_params fields. */
export interface VerityParams {
  readonly rootHash: string;
  readonly salt: string;
  readonly dataBlocks: number;
  readonly dataBlockSize: number;
  readonly hashBlockSize: number;
  readonly hashAlgorithm: string;
}

/** 32 bytes of salt (veritysetup's default length) from the build's input hash. */
export function veritySalt(seed: string): string {
  return createHash('sha256').update(`osb-image:verity-salt:${seed}`).digest('hex');
}

/**
 * `veritysetup format` of `dataBlocks` blocks of `dataPath` into `hashPath`; the root hash it
 * printed. Without a superblock by default (every parameter travels beside the image, as the
 * kernel's dm-mod.create= and Kata take them); `superblockUuid` writes one with that UUID, as
 * systemd opens a verity partition by it.
 */
export async function formatVerity(ctx: BuildContext, dataPath: string, hashPath: string, o: { dataBlocks: number; salt: string; superblockUuid?: string }): Promise<string> {
  const r = await ctx.run(
    ['veritysetup', 'format', ...(o.superblockUuid ? [`--uuid=${o.superblockUuid}`] : ['--no-superblock']), `--hash=${VERITY_HASH}`, `--data-block-size=${VERITY_BLOCK}`, `--hash-block-size=${VERITY_BLOCK}`, `--data-blocks=${o.dataBlocks}`, `--salt=${o.salt}`, dataPath, hashPath],
    { hint: 'veritysetup is in cryptsetup-bin (apt-get install cryptsetup-bin)' },
  );
  if (ctx.dryRun) return '0'.repeat(64);
  const m = /^Root hash:\s+([0-9a-f]{64})\s*$/m.exec(r.stdout);
  if (!m) throw new OsbError(`veritysetup format printed no root hash: ${r.stdout.trim().split('\n').slice(-3).join(' | ')}`, 'check the veritysetup version (cryptsetup 2.x is needed)');
  return m[1]!;
}

/** Read the tree back with `veritysetup verify` (DESIGN principle 9): with only `p`, or from its superblock. */
export async function verifyVerity(ctx: BuildContext, dataPath: string, hashPath: string, p: VerityParams, o: { superblock?: boolean } = {}): Promise<void> {
  const params = o.superblock ? [] : ['--no-superblock', `--hash=${p.hashAlgorithm}`, `--data-block-size=${p.dataBlockSize}`, `--hash-block-size=${p.hashBlockSize}`, `--data-blocks=${p.dataBlocks}`, `--salt=${p.salt}`];
  const r = await ctx.run(['veritysetup', 'verify', ...params, dataPath, hashPath, p.rootHash], { readOnly: true, allowFail: true, quiet: true });
  if (r.exitCode !== 0) throw new OsbError(`veritysetup verify rejects the hash tree osb just wrote: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`, 'this is a bug in osb; please report it with the log');
}
