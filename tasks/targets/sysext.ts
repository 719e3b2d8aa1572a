/**
 * The sysext target: a systemd system extension of a tree (--sysext-tree), for the workdir's
 * rootfs as its base: WORKDIR/NAME.raw, whose extension-release matches the base's os-release.
 */
import { UsageError } from '../../lib/errors.js';
import type { Target } from '../engine/target.js';
import { rootfsDir, sysextPath } from '../settings/paths.js';

export const sysext: Target = {
  name: 'sysext',
  summary: 'systemd system extension of --sysext-tree for the rootfs (WORKDIR/NAME.raw: /usr and /opt only, erofs or squashfs)',
  deps: () => ['rootfs'],
  settings: ['sysextName', 'sysextFs', 'sourceDateEpoch'],
  files: (s) => (s.sysextTree ? [s.sysextTree] : []),
  // The base's identity is what the extension names: with --no-deps no rootfs hash carries it.
  extraInputs: async (s) => {
    const { baseRelease, extensionRelease } = await import('../../sysext-builder/index.js');
    try {
      return { baseRelease: extensionRelease(baseRelease(rootfsDir(s))) };
    } catch {
      return { baseRelease: '(the rootfs is built first)' };
    }
  },
  outputs: (s) => [sysextPath(s)],
  tools: (s) => [s.sysextFs === 'squashfs' ? 'mksquashfs' : 'mkfs.erofs', 'cp'],
  validate: async (s) => {
    if (!s.sysextName) throw new UsageError('osb sysext needs a name for the extension', 'pass --sysext-name NAME (the image is WORKDIR/NAME.raw)');
    if (!s.sysextTree) throw new UsageError('osb sysext needs the tree the extension adds', 'pass --sysext-tree DIR (a directory holding usr/)');
    const { checkSysextName, checkSysextTree } = await import('../../sysext-builder/index.js');
    checkSysextName(s.sysextName);
    checkSysextTree(s.sysextTree, s.sysextName);
  },
  run: async (ctx, s, inputsHash) => {
    const { buildSysext } = await import('../../sysext-builder/index.js');
    const { derivedUuid } = await import('../../image-builder/ids.js');
    await buildSysext(ctx, { treeDir: s.sysextTree!, baseDir: rootfsDir(s), name: s.sysextName!, fs: s.sysextFs, output: sysextPath(s), uuid: derivedUuid(inputsHash, 'fs-uuid') });
  },
};
