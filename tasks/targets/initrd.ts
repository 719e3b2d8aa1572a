/** The initrd target: a compressed cpio of the rootfs (initrd-builder/). */
import type { BuildContext } from '../../lib/context.js';
import { OsbError } from '../../lib/errors.js';
import type { Target, ToolSpec } from '../engine/target.js';
import { initrdPath, kernelPaths, rootfsDir } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { supplyChainOutputs } from './supply-chain.js';
import { requireOsTree, validateTree } from './tree.js';

function parseOwner(v: string | undefined): { uid: number; gid: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw new OsbError(`--owner must be UID:GID (e.g. 0:0); got '${v}'`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** The compressor each --compression runs (gzip: pigz when there is one). */
const COMPRESSORS: Readonly<Record<Settings['compression'], readonly ToolSpec[]>> = { zstd: ['zstd'], gzip: [['pigz', 'gzip']], xz: ['xz'], lz4: ['lz4'], none: [] };

export const initrd: Target = {
  name: 'initrd',
  summary: 'Compressed cpio initrd of the rootfs (WORKDIR/osb-initrd.img); builds rootfs if needed',
  deps: () => ['rootfs'],
  trees: (s) => [rootfsDir(s)],
  // Its scan of the rootfs gives the fingerprint (initrd-builder/index.ts).
  treesSeen: true,
  settings: ['compression', 'owner', 'initrdName', 'agentInit', 'sourceDateEpoch'],
  files: (s) => s.initrdExtra,
  outputs: (s) => [initrdPath(s), ...supplyChainOutputs(s, 'initrd')],
  tools: (s) => COMPRESSORS[s.compression],
  validate: async (s) => {
    parseOwner(s.owner);
    await validateTree('an initrd')(s);
  },
  run: async (ctx, s, inputsHash) => {
    if (!ctx.dryRun) await requireOsTree(s, 'an initrd');
    const { buildInitrd } = await import('../../initrd-builder/index.js');
    await buildInitrd(ctx, {
      rootfsDir: rootfsDir(s),
      output: initrdPath(s),
      compression: s.compression,
      owner: parseOwner(s.owner),
      agentInit: s.agentInit,
      extraDirs: s.initrdExtra,
    });
    await (await import('./supply-chain.js')).writeSupplyChain(ctx, s, 'initrd', inputsHash, initrd.settings);
    await warnIfKernelCannotRead(ctx, s);
  },
};

/** osb's kernel in this workdir (if built) must be able to unpack the initrd's compression. */
export async function warnIfKernelCannotRead(ctx: BuildContext, s: Settings): Promise<void> {
  const { kernelReadsInitrd } = await import('../../kernel-builder/config.js');
  const c = s.compression;
  if (kernelReadsInitrd(kernelPaths(s).config, c) === false) {
    ctx.log.warn(`the kernel osb built in ${s.workdir} cannot unpack a ${c} initrd (CONFIG_RD_${c.toUpperCase()} is not set): rebuild it with that option in a fragment, or use --compression gzip`);
  }
}
