/** The bundle target: an OCI runtime bundle (config.json + rootfs/) that runc runs. */
import type { Target } from '../engine/target.js';
import { bundlePaths, rootfsDir } from '../settings/paths.js';
import { containerCommand } from './container.js';
import { requireOsTree, validateTree } from './tree.js';

export const bundle: Target = {
  name: 'bundle',
  summary: 'OCI runtime bundle (config.json + rootfs/): WORKDIR/osb-bundle/ and WORKDIR/osb-bundle.tar',
  deps: () => ['rootfs'],
  trees: (s) => [rootfsDir(s)],
  settings: ['agent', 'toolbox', 'distrobox', 'agentInit', 'agentName', 'agentBin', 'sourceDateEpoch'],
  outputs: (s) => [bundlePaths(s).dir, bundlePaths(s).tar],
  tools: () => ['cp', 'getfattr'],
  validate: validateTree('a bundle', true),
  run: async (ctx, s) => {
    if (!ctx.dryRun) await requireOsTree(s, 'a bundle', true);
    const { buildBundle } = await import('../../oci-builder/index.js');
    await buildBundle(ctx, { rootfsDir: rootfsDir(s), bundleDir: bundlePaths(s).dir, tarPath: bundlePaths(s).tar, args: containerCommand(s) });
  },
};
