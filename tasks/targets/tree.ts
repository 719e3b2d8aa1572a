/**
 * An artefact is made of a whole OS tree (lib/bootable.ts: an init and an os-release), unless
 * --allow-empty. With --no-deps the tree is there to check when the plan is made, before any
 * work; otherwise it is checked when the target starts, once the rootfs target has run.
 */
import { UsageError } from '../../lib/errors.js';
import { rootfsDir } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

export async function requireOsTree(s: Settings, what: string): Promise<void> {
  if (s.allowEmpty) return;
  const { missingFromTree } = await import('../../lib/bootable.js');
  const dir = rootfsDir(s);
  const lacks = missingFromTree(dir);
  if (lacks) throw new UsageError(`refusing to make ${what} of ${dir}: it ${lacks}`, 'point --rootfs-dir at a whole OS tree, or pass --allow-empty if you mean it');
}

/** validate: with --no-deps, the tree must already be one (the plan builds no rootfs). */
export const validateTree = (what: string) => async (s: Settings): Promise<void> => {
  if (!s.deps) await requireOsTree(s, what);
};
