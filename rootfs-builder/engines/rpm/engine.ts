/**
 * What makes an engine of a package tool that installs through the host's rpm (dnf, zypper),
 * besides its bootstrap: the same checks before any download, the same host tools and the same
 * reason to need root. Apart from common.ts because rpmdb.ts, which lists the packages, reads
 * common.ts.
 */
import { foreignArchTools, type Engine } from '../types.js';
import { rpmPreflight } from './common.js';
import { listRpmPackages } from './rpmdb.js';

export function rpmEngine(tool: 'dnf' | 'zypper', bootstrap: Engine['bootstrap'], installOnTree?: Engine['installOnTree']): Engine {
  return {
    preflight: (ctx, o) => rpmPreflight(ctx, o, [tool, 'rpm']),
    bootstrap,
    ...(installOnTree ? { installOnTree } : {}),
    listPackages: listRpmPackages,
    // The host's rpm writes the tree's database.
    hostTools: ({ arch, foreign }) => [tool, 'rpm', ...(foreign ? foreignArchTools(arch) : [])],
    needsRoot: 'rpm scriptlets in a chroot',
  };
}
