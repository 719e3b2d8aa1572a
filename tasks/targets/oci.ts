/** The oci target: an OCI image layout and oci-archive of the rootfs (oci-builder/). */
import { machine } from 'node:os';
import type { Target } from '../engine/target.js';
import { ociPaths, rootfsDir } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { supplyChainOutputs } from './supply-chain.js';
import { containerCommand } from './container.js';
import { requireOsTree, validateTree } from './tree.js';

/**
 * org.opencontainers.image.source and .revision where the build knows them: from the CI that
 * runs it (GitHub Actions, GitLab CI). Elsewhere they are left out rather than guessed.
 */
function ciProvenance(environ: NodeJS.ProcessEnv = process.env): { source?: string; revision?: string } {
  if (environ.GITHUB_REPOSITORY && environ.GITHUB_SHA) {
    return { source: `${environ.GITHUB_SERVER_URL ?? 'https://github.com'}/${environ.GITHUB_REPOSITORY}`, revision: environ.GITHUB_SHA };
  }
  if (environ.CI_PROJECT_URL && environ.CI_COMMIT_SHA) return { source: environ.CI_PROJECT_URL, revision: environ.CI_COMMIT_SHA };
  return {};
}

/** `run`: also read the parent the rootfs was built on (validate runs before the rootfs exists). */
async function ociOptions(s: Settings, run = false) {
  const { parseKeyValues } = await import('../../oci-builder/index.js');
  const p = ociPaths(s);
  return {
    rootfsDir: rootfsDir(s),
    layoutDir: p.layout,
    archivePath: p.archive,
    dockerArchivePath: s.dockerArchive ? p.dockerArchive : undefined,
    ref: s.ociRef,
    compression: s.ociCompression,
    arch: s.arch ?? machine(),
    cmd: containerCommand(s),
    labels: parseKeyValues(s.label, '--label'),
    annotations: parseKeyValues(s.annotation, '--annotation'),
    toolbox: s.toolbox,
    parent: run ? await (await import('./parent.js')).parentForOci(s) : undefined,
    ...ciProvenance(),
  };
}

export const oci: Target = {
  name: 'oci',
  summary: 'OCI image of the rootfs: layout WORKDIR/osb-oci/ and oci-archive WORKDIR/osb-oci.tar; builds rootfs if needed',
  deps: () => ['rootfs'],
  trees: (s) => [rootfsDir(s)],
  settings: ['ociRef', 'ociCompression', 'label', 'annotation', 'dockerArchive', 'toolbox', 'distrobox', 'agent', 'agentInit', 'agentName', 'agentBin', 'arch', 'sourceDateEpoch', 'parent'],
  extraInputs: async () => {
    const p = ciProvenance();
    return { 'image source': p.source ?? '', 'image revision': p.revision ?? '' };
  },
  outputs: (s) => [ociPaths(s).layout, ociPaths(s).archive, ...(s.dockerArchive ? [ociPaths(s).dockerArchive] : []), ...supplyChainOutputs(s, 'oci')],
  tools: (s) => ['getfattr', ...(s.ociCompression === 'zstd' ? ['zstd'] : [])],
  validate: async (s) => {
    const { parseReference } = await import('../../oci-builder/index.js');
    parseReference(s.ociRef);
    await ociOptions(s);
    await validateTree('an OCI image', true)(s);
  },
  run: async (ctx, s, inputsHash) => {
    if (!ctx.dryRun) await requireOsTree(s, 'an OCI image', true);
    const { buildOci } = await import('../../oci-builder/index.js');
    // --dry-run: the rootfs was not unpacked, so there is no parent state to read yet.
    if (ctx.dryRun && s.parent) ctx.log.info(`would add one layer to the layers of --parent ${s.parent}`);
    if (!ctx.dryRun) await (await import('./parent.js')).ensureParentLayout(ctx, s);
    await buildOci(ctx, await ociOptions(s, !ctx.dryRun));
    await (await import('./supply-chain.js')).writeSupplyChain(ctx, s, 'oci', inputsHash, oci.settings);
  },
};
