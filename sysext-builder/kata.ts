/**
 * A Kata guest extension image (Kata's docs/design/composable-vm-images.md): a two-partition disk
 * whose first partition is an erofs of the tree and whose second is the dm-verity hash tree of
 * it, written by `veritysetup format --no-superblock`, so every verity parameter travels beside
 * the image instead of in a superblock: `root_hash=...,salt=...,data_blocks=N,hash_block_size=4096,
 * data_block_size=4096`, the `verity_params` of a `[[hypervisor.qemu.guest_extension_images]]`
 * entry, which Kata's runtime puts on the kernel command line as
 * `kata.extension.NAME.verity_params=...` and its guest's mount unit opens the device with.
 *
 *   check tree → mkfs.erofs → veritysetup format → MBR (sfdisk) → both partitions → verify → rename
 */
import { rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { tmpPathFor, writeAtomic } from '../lib/atomic.js';
import { withCleanup } from '../lib/cleanup.js';
import type { BuildContext } from '../lib/context.js';
import { UsageError } from '../lib/errors.js';
import { VERITY_BLOCK } from '../lib/verity.js';
import { formatVerity, writeDisk } from './disk.js';
import { treeEntries } from './index.js';

export interface KataExtensionOptions {
  /** What the extension carries, at its mount point /run/kata-extensions/NAME (any directories). */
  readonly treeDir: string;
  /** The extension's name: the disk's serial is extension-NAME. */
  readonly name: string;
  readonly output: string;
  /** Where the verity_params line goes (WORKDIR/NAME.verity_params). */
  readonly verityParamsFile: string;
  /** Derived from the inputs hash, so two builds give the same bytes. */
  readonly uuid: string;
  readonly salt: string;
  readonly diskId: number;
}


/**
 * Kata's rules for a name: it is the disk's serial after `extension-` in virtio-blk's 20 bytes,
 * and a key of the kernel command line (`kata.extension.NAME.verity_params`).
 */
export function checkKataExtensionName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,9}$/.test(name)) {
    throw new UsageError(`"${name}" is not a Kata guest extension name`, 'use at most 10 letters, digits, "_" and "-" (the disk serial is extension-NAME, 20 bytes at most)');
  }
}

export function checkKataExtensionTree(treeDir: string): void {
  if (treeEntries(treeDir, 'pass --sysext-tree DIR, the files the extension carries').length === 0) throw new UsageError(`the extension tree ${treeDir} is empty`, 'put the files the extension carries in it');
}

/** The parameters Kata's mount unit hands to veritysetup open --no-superblock. */
export const verityParams = (v: { rootHash: string; salt: string; dataBlocks: number }): string =>
  `root_hash=${v.rootHash},salt=${v.salt},data_blocks=${v.dataBlocks},hash_block_size=${VERITY_BLOCK},data_block_size=${VERITY_BLOCK}`;

export async function buildKataExtension(ctx: BuildContext, o: KataExtensionOptions): Promise<{ verityParams: string }> {
  checkKataExtensionName(o.name);
  const treeDir = resolve(o.treeDir);
  const output = resolve(o.output);
  if (ctx.dryRun) {
    ctx.log.info(`would write ${output}: an erofs of ${treeDir} and its dm-verity hash tree (veritysetup format --no-superblock) as two MBR partitions, and ${o.verityParamsFile}`);
    return { verityParams: '' };
  }
  checkKataExtensionTree(treeDir);
  const data = tmpPathFor(output, '.osb-kata-data-');
  const hash = tmpPathFor(output, '.osb-kata-hash-');
  const params = await writeAtomic(output, async (tmp) =>
    withCleanup(
      () => Promise.all([rm(data, { force: true }), rm(hash, { force: true })]).then(() => undefined),
      async () => {
        const env = { SOURCE_DATE_EPOCH: String(ctx.sourceDateEpoch) };
        // The tree is read, never written: nothing is added to it. Blocks are the page size, 4096 here (checked in formatVerity).
        await ctx.run(['mkfs.erofs', '--quiet', '-U', o.uuid, data, treeDir], { env, hint: 'mkfs.erofs is in package erofs-utils' });
        await ctx.run(['fsck.erofs', data], { readOnly: true, quiet: true });
        const { rootHash, dataBlocks } = await formatVerity(ctx, data, hash, { salt: o.salt, noSuperblock: true });
        const v = { rootHash, salt: o.salt, dataBlocks };
        // p1 at 1 MiB, p2 right after: the guest opens /dev/vdX1 over /dev/vdX2.
        await writeDisk(ctx, tmp, { label: 'dos', id: o.diskId }, [{ file: data }, { file: hash }]);
        return verityParams(v);
      },
    ),
  );
  await writeAtomic(resolve(o.verityParamsFile), (tmp) => writeFile(tmp, `${params}\n`, { mode: 0o644 }));
  ctx.log.info(`wrote ${output} (Kata guest extension ${o.name}: erofs and its dm-verity hash tree) and ${o.verityParamsFile}`);
  return { verityParams: params };
}
