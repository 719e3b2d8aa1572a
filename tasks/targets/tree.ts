/**
 * An artefact is made of a whole OS tree (lib/bootable.ts: an init and an os-release), unless
 * --allow-empty. With --no-deps the tree is there to check when the plan is made, before any
 * work; otherwise it is checked when the target starts, once the rootfs target has run.
 */
import { UsageError } from '../../lib/errors.js';
import { rootfsDir } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

export async function requireOsTree(s: Settings, what: string, entered = false): Promise<void> {
  if (s.allowEmpty) return;
  const { missingFromTree } = await import('../../lib/bootable.js');
  const dir = rootfsDir(s);
  // An OCI image or bundle made for toolbox/distrobox is entered, so a shell will do; a booted artefact needs an init.
  const lacks = missingFromTree(dir, { container: entered && containerTools(s).length > 0 });
  if (lacks) throw new UsageError(`refusing to make ${what} of ${dir}: it ${lacks}`, 'point --rootfs-dir at a whole OS tree, or pass --allow-empty if you mean it');
}

/** --toolbox and --distrobox: the container tools the image is made for (it then has no agent and needs no init). */
export function containerTools(s: Settings): ('toolbox' | 'distrobox')[] {
  return [...(s.toolbox ? (['toolbox'] as const) : []), ...(s.distrobox ? (['distrobox'] as const) : [])];
}

/** validate: with --no-deps, the tree must already be one (the plan builds no rootfs). */
export const validateTree = (what: string, entered = false) => async (s: Settings): Promise<void> => {
  if (!s.deps) await requireOsTree(s, what, entered);
};
