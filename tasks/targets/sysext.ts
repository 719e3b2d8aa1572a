/**
 * The sysext target: a systemd system extension of a tree (--sysext-tree), for the workdir's
 * rootfs as its base: WORKDIR/NAME.raw, whose extension-release matches the base's os-release.
 * With --measured-rootfs, a GPT DDI of it with a usr-verity partition and NAME.usrhash.
 * With --for kata, a Kata guest extension image of the tree instead (sysext-builder/kata.ts),
 * which names no base and so needs no rootfs.
 */
import { readFile } from 'node:fs/promises';
import { OsbError, UsageError } from '../../lib/errors.js';
import type { Target } from '../engine/target.js';
import { hostArch } from '../../distros/index.js';
import { rootfsDir, sysextPath, sysextUsrHashPath, sysextVerityPath } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

/**
 * The verity_params osb sysext --for kata wrote, checked before they go on a kernel command line
 * (osb boot) or into Kata's configuration (osb kata-config): a file changed by hand must not add
 * kernel arguments.
 */
export async function kataVerityParams(s: Settings): Promise<string> {
  const file = sysextVerityPath(s);
  const text = (await readFile(file, 'utf8')).trim();
  if (!/^root_hash=[0-9a-f]{64},salt=[0-9a-f]+,data_blocks=[1-9]\d*,hash_block_size=\d+,data_block_size=\d+$/.test(text)) {
    throw new OsbError(`${file} is not the verity_params osb sysext --for kata writes`, 'rebuild it: osb sysext --for kata --force');
  }
  return text;
}

export const sysext: Target = {
  name: 'sysext',
  summary: 'systemd system extension of --sysext-tree for the rootfs (WORKDIR/NAME.raw: /usr and /opt only, erofs or squashfs), or with --for kata a Kata guest extension image',
  deps: (s) => (s.sysextFor === 'kata' ? [] : ['rootfs']),
  settings: ['sysextName', 'sysextFs', 'sysextFor', 'measuredRootfs', 'arch', 'sourceDateEpoch'],
  files: (s) => (s.sysextTree ? [s.sysextTree] : []),
  // The base's identity is what the extension names: with --no-deps no rootfs hash carries it.
  extraInputs: async (s): Promise<Record<string, string>> => {
    if (s.sysextFor === 'kata') return {};
    const { baseRelease, extensionRelease } = await import('../../sysext-builder/index.js');
    try {
      return { baseRelease: extensionRelease(baseRelease(rootfsDir(s))) };
    } catch {
      return { baseRelease: '(the rootfs is built first)' };
    }
  },
  outputs: (s) => [sysextPath(s), ...(s.sysextFor === 'kata' ? [sysextVerityPath(s)] : s.measuredRootfs ? [sysextUsrHashPath(s)] : [])],
  tools: (s) => (s.sysextFor === 'kata' ? ['mkfs.erofs', 'veritysetup', 'sfdisk'] : [s.sysextFs === 'squashfs' ? 'mksquashfs' : 'mkfs.erofs', 'cp', ...(s.measuredRootfs ? ['veritysetup', 'sfdisk'] : [])]),
  validate: async (s) => {
    if (!s.sysextName) throw new UsageError('osb sysext needs a name for the extension', 'pass --sysext-name NAME (the image is WORKDIR/NAME.raw)');
    if (!s.sysextTree) throw new UsageError('osb sysext needs the tree the extension adds', 'pass --sysext-tree DIR (a directory holding usr/)');
    if (s.sysextFor === 'kata') {
      if (s.sysextFs !== 'erofs') throw new UsageError(`${s.sources.sysextFs}: a Kata guest extension image is erofs, not ${s.sysextFs}`, 'leave out --sysext-fs with --for kata');
      const { checkKataExtensionName, checkKataExtensionTree } = await import('../../sysext-builder/kata.js');
      checkKataExtensionName(s.sysextName);
      checkKataExtensionTree(s.sysextTree);
      return;
    }
    const { checkSysextName, checkSysextTree } = await import('../../sysext-builder/index.js');
    checkSysextName(s.sysextName);
    checkSysextTree(s.sysextTree, s.sysextName, s.measuredRootfs);
  },
  run: async (ctx, s, inputsHash) => {
    const { derivedUuid, derivedMbrDiskId } = await import('../../image-builder/ids.js');
    const { veritySalt } = await import('../../lib/verity.js');
    if (s.sysextFor === 'kata') {
      const { buildKataExtension } = await import('../../sysext-builder/kata.js');
      await buildKataExtension(ctx, {
        treeDir: s.sysextTree!, name: s.sysextName!, output: sysextPath(s), verityParamsFile: sysextVerityPath(s),
        uuid: derivedUuid(inputsHash, 'fs-uuid'), salt: veritySalt(inputsHash), diskId: derivedMbrDiskId(inputsHash, 'mbr-disk'),
      });
      return;
    }
    const { buildSysext } = await import('../../sysext-builder/index.js');
    // Measured with the guest (--measured-rootfs): a GPT DDI with /usr and its dm-verity partition.
    const verity = s.measuredRootfs
      ? { arch: s.arch ?? hostArch(), salt: veritySalt(inputsHash), verityUuid: derivedUuid(inputsHash, 'gpt-verity-partition'), diskGuid: derivedUuid(inputsHash, 'gpt-disk'), usrHashFile: sysextUsrHashPath(s) }
      : undefined;
    await buildSysext(ctx, { treeDir: s.sysextTree!, baseDir: rootfsDir(s), name: s.sysextName!, fs: s.sysextFs, output: sysextPath(s), uuid: derivedUuid(inputsHash, 'fs-uuid'), ...(verity ? { verity } : {}) });
  },
};
