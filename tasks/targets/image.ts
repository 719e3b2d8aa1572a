/** The image target: a partitioned disk image of the rootfs (image-builder/). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostArch } from '../../distros/index.js';
import { OsbError } from '../../lib/errors.js';
import type { VerityParams } from '../../image-builder/index.js';
import type { Target } from '../engine/target.js';
import { imagePath, rootfsDir, rootHashPath, scanRecordPath } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { supplyChainOutputs } from './supply-chain.js';
import { requireOsTree, validateTree } from './tree.js';

/** What each filesystem is made, checked and read back with. */
const FS_TOOLS = { ext4: ['mkfs.ext4', 'e2fsck', 'debugfs'], xfs: ['mkfs.xfs', 'xfs_repair', 'losetup', 'mount', 'umount', 'cp'], erofs: ['mkfs.erofs', 'fsck.erofs'] } as const;

/**
 * Whether the image gets the NVDIMM/DAX header: asked for (Kata's default), on x86_64 (the only
 * guests with an nvdimm here), and not measured (a measured image boots over virtio-blk from
 * /dev/dm-0). The image target, the boot and osb kata-config all decide by this.
 */
export const hasDaxHeader = (s: Settings): boolean => s.dax && (s.arch ?? hostArch()) === 'x86_64' && !s.measuredRootfs;

/** The measured image's dm-verity parameters, from the root_hash.txt osb image wrote beside it. */
export async function measuredVerity(s: Settings): Promise<VerityParams> {
  const file = rootHashPath(s);
  if (!existsSync(file)) throw new OsbError(`the measured image has no root hash file: ${file} does not exist`, 'run `osb image --measured-rootfs` first');
  const { parseRootHashFile } = await import('../../image-builder/index.js');
  return parseRootHashFile(await readFile(file, 'utf8'));
}

/**
 * The measured image's `dm-mod.create=... root=/dev/dm-0` line (the image as the guest's first
 * virtio disk), its dm table, and the root hash and salt, from root_hash.txt; undefined for an
 * image that is not measured. What osb boot gives the kernel and what osb uki puts in the UKI.
 */
export async function verityRoot(s: Settings, dryRun: boolean): Promise<{ cmdline: string; table: string; rootHash: string; salt: string } | undefined> {
  if (!s.measuredRootfs) return undefined;
  // In a dry run the image (and its root hash) may be one the plan builds first.
  if (dryRun && !existsSync(rootHashPath(s))) {
    const table = '0 SECTORS verity 1 /dev/vda1 /dev/vda2 4096 4096 DATA_BLOCKS 0 sha256 ROOTHASH SALT';
    return { cmdline: `dm-mod.create="root,,,ro,${table}" root=/dev/dm-0`, table, rootHash: 'ROOTHASH', salt: 'SALT' };
  }
  const p = await measuredVerity(s);
  const { verityCmdline, verityTable } = await import('../../image-builder/index.js');
  return { cmdline: verityCmdline(p), table: verityTable(p), rootHash: p.rootHash, salt: p.salt };
}

export const image: Target = {
  name: 'image',
  summary: 'Partitioned raw disk image of the rootfs (WORKDIR/osb.img); builds rootfs if needed',
  cacheable: true,
  deps: () => ['rootfs'],
  trees: (s) => [rootfsDir(s)],
  // Fingerprinted beside mkfs (alongside, below).
  treesSeen: true,
  settings: ['fsType', 'blockSize', 'rootFreeSpace', 'imageSize', 'partitionTable', 'dax', 'format', 'imageName', 'sourceDateEpoch', 'arch', 'measuredRootfs'],
  outputs: (s) => [imagePath(s), ...(s.measuredRootfs ? [rootHashPath(s)] : []), ...supplyChainOutputs(s, 'image')],
  tools: (s) => ['sfdisk', ...FS_TOOLS[s.fsType], ...(s.measuredRootfs ? ['veritysetup'] : []), ...(s.format === 'qcow2' ? ['qemu-img'] : [])],
  validate: validateTree('an image'),
  run: async (ctx, s, inputsHash) => {
    if (!ctx.dryRun) await requireOsTree(s, 'an image');
    const { buildImage } = await import('../../image-builder/index.js');
    const supplyChain = await import('./supply-chain.js');
    // The SBOM's packages are read from the rootfs while mkfs writes the image.
    let early: ReturnType<typeof supplyChain.earlySbomComponents> | undefined;
    const arch = s.arch ?? hostArch();
    // The DAX header (Kata's default) is for QEMU nvdimm, which only x86_64 guests get here; an
    // aarch64 "virt" guest takes the image over virtio-blk.
    const measured = s.measuredRootfs;
    const dax = hasDaxHeader(s);
    if (s.dax && !dax) ctx.log.info(`no DAX header: ${measured ? 'a measured rootfs boots over virtio-blk from /dev/dm-0' : `${arch} guests have no nvdimm (the image boots over virtio-blk)`}`);
    const r = await buildImage(ctx, {
      rootfsDir: rootfsDir(s),
      output: imagePath(s),
      fsType: s.fsType,
      blockSize: s.blockSize,
      rootFreeSpaceMiB: s.rootFreeSpace,
      imageSizeMiB: s.imageSize,
      partitionTable: s.partitionTable,
      dax,
      arch,
      format: s.format,
      // UUIDs and hash seeds derive from the inputs: same inputs, same bytes.
      seed: inputsHash,
      measured,
      rootHashOutput: measured ? rootHashPath(s) : undefined,
      alongside: () => {
        early = supplyChain.earlySbomComponents(s, 'image');
        // What the engine records of the tree, walked while mkfs runs, not before it.
        ctx.treeSeen?.(rootfsDir(s));
      },
      scanRecord: scanRecordPath(s),
    });
    if (!ctx.dryRun) ctx.log.info(`wrote ${r.path} (${(r.sizeBytes / 1048576).toFixed(0)} MiB, ${r.fsType})`);
    await supplyChain.writeSupplyChain(ctx, s, 'image', inputsHash, image.settings, measured ? [rootHashPath(s)] : [], early);
  },
};
