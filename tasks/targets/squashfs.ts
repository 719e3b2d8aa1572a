/**
 * The squashfs target: the rootfs as a reproducible squashfs for network boot, and the small
 * boot initrd that mounts it under a tmpfs overlay.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OsbError } from '../../lib/errors.js';
import { hostArch } from '../../distros/index.js';
import type { Target } from '../engine/target.js';
import { rootfsDir, squashfsPaths } from '../settings/paths.js';
import { requireOsTree, validateTree } from './tree.js';

export const squashfs: Target = {
  name: 'squashfs',
  summary: 'Squashfs of the rootfs for network boot (WORKDIR/osb.squashfs) and its boot initrd',
  deps: () => ['rootfs'],
  trees: (s) => [rootfsDir(s)],
  settings: ['squashfsCompression', 'sourceDateEpoch'],
  outputs: (s) => [squashfsPaths(s).image, squashfsPaths(s).bootInitrd],
  tools: () => ['mksquashfs', 'busybox'],
  validate: (s) => {
    // The boot initrd carries the host's static busybox, which a guest of another arch cannot run.
    const arch = s.arch ?? hostArch();
    if (arch !== hostArch()) throw new OsbError(`cannot make the squashfs boot initrd for ${arch} on this ${hostArch()} host: it holds the host's busybox`, `boot ${arch} guests from the initrd or the image (osb boot --initrd / --image)`);
    return validateTree('a squashfs')(s);
  },
  run: async (ctx, s) => {
    if (!ctx.dryRun) await requireOsTree(s, 'a squashfs');
    const { bootTreeInputs, buildSquashfs, writeSquashfsBootTree } = await import('../../oci-builder/index.js');
    const { buildInitrd } = await import('../../initrd-builder/index.js');
    const { mkdtemp, readFile, rm, writeFile } = await import('node:fs/promises');
    const { withCleanup } = await import('../../lib/cleanup.js');
    const p = squashfsPaths(s);
    await buildSquashfs(ctx, { rootfsDir: rootfsDir(s), output: p.image, compression: s.squashfsCompression });
    // The boot initrd: busybox and an /init that mounts the squashfs under a tmpfs overlay,
    // written by osb's own cpio writer. gzip: every kernel unpacks it.
    const boot = { output: p.bootInitrd, compression: 'gzip' as const, agentInit: false };
    if (ctx.dryRun) {
      await buildInitrd(ctx, { ...boot, rootfsDir: join(s.workdir, 'squashfs-boot-tree') });
      return;
    }
    // The boot initrd does not depend on the rootfs: it is rebuilt only when busybox, its /init or
    // SOURCE_DATE_EPOCH changed (a stamp beside it), so a new squashfs costs only mksquashfs.
    const stamp = join(s.workdir, '.osb-squashfs-boot.img.inputs');
    const inputs = `${await bootTreeInputs()} sde ${ctx.sourceDateEpoch}\n`;
    if ((await readFile(stamp, 'utf8').catch(() => '')) === inputs && existsSync(p.bootInitrd)) {
      ctx.log.info(`${p.bootInitrd} is up to date`);
      return;
    }
    await rm(stamp, { force: true });
    const tree = await mkdtemp(join(s.workdir, '.squashfs-boot-tree-'));
    await withCleanup(
      () => rm(tree, { recursive: true, force: true }),
      async () => {
        await writeSquashfsBootTree(tree);
        await buildInitrd(ctx, { ...boot, rootfsDir: tree, owner: { uid: 0, gid: 0 } });
      },
    );
    await writeFile(stamp, inputs);
  },
};
