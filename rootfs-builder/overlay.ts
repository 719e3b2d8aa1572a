/**
 * Work on a copy of a cached tree (an unpacked parent image) without waiting for the copy.
 *
 * The steps that change the tree (packages, copyfiles, cmds, Ansible, the agent, the hooks) run
 * on an overlay mount: the cached tree as its read-only lower layer, an empty upper directory
 * beside the stage. Meanwhile the cached tree is copied into the stage: as hard links (`cp -al`)
 * when the stage is on the cache's file system, a plain `cp -a` otherwise. When both are done,
 * what the overlay's upper directory holds is applied to the copy: each whiteout (a 0:0 character
 * device) removes its name, an opaque directory replaces its counterpart, and every other entry of
 * the upper directory is taken, with its metadata and xattrs, from the merged view (where overlayfs
 * shows no trusted.overlay.* attributes and a metadata-only copy-up reads as the whole file). The
 * stage then holds exactly what the steps saw in the merged view, and the cache is never written.
 *
 * The mount is made with redirect_dir=off and metacopy=off, so that a renamed directory is copied
 * up whole and the upper directory says everything that changed, and with index=on, so that a
 * file changed through one of its hard links changes under all of them, as in a plain tree. Where the overlay cannot be
 * mounted (not root, an upper directory on a file system overlayfs cannot use, a kernel without
 * those options), the steps wait for a plain copy and run on the stage itself: the same result.
 *
 * Hard links make the copy take the time of its names, not of its bytes: on the machines osb is
 * built on, writing each small file costs a few hundred microseconds, and a parent of 10k files took
 * seconds to copy where the steps took one. The stage then shares every file it did not change with
 * the cache, so nothing may write into those files: the changes come from the overlay, where a
 * change copies the file up, and are applied by removing the name first; what osb writes after
 * (lib/in-tree.ts) makes new files too. A write into the rootfs by hand would still reach the cache,
 * so the cache entry carries a seal of its files' metadata (lib/tree-cache.ts), checked before each
 * use: an entry changed that way is unpacked again, never built on.
 */
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { lstat, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onCleanup } from '../lib/cleanup.js';
import type { BuildContext } from '../lib/context.js';
import { isRoot } from '../lib/host.js';
import { groupsOf, knownLinkGroups } from '../lib/tree-cache.js';

export interface OverlayChanges {
  /** Names (relative to the tree) that the steps removed: whiteouts in the upper directory. */
  readonly removed: readonly string[];
  /** Directories the steps replaced whole (opaque in the upper directory). */
  readonly replaced: readonly string[];
  /** Every other entry of the upper directory, parents before children. */
  readonly changed: readonly string[];
}

/**
 * Fill the empty `stage` with a copy of `lower` and run `body` on a tree that looks like that
 * copy; when this returns, `stage` holds what `body` left. `scratch` (beside the stage, on the
 * same file system, not existing yet) holds the overlay's directories and is removed after.
 */
export async function workOnCopy(ctx: BuildContext, lower: string, stage: string, scratch: string, body: (tree: string) => Promise<void>): Promise<void> {
  const merged = join(scratch, 'merged');
  const mounted = isRoot() && (await mountOverlay(ctx, lower, scratch));
  const shared = mounted && (await stat(lower)).dev === (await stat(stage)).dev;
  // Beside the steps at the lowest priority: the copy has until they end, and they should not wait for a core.
  const copy = ctx.run([...(mounted ? ['nice', '-n', '19'] : []), 'cp', '-a', ...(shared ? ['-l'] : ['--reflink=auto']), `${lower}/.`, `${stage}/`], { quiet: true });
  copy.catch(() => undefined); // awaited on every path below
  if (!mounted) {
    await rm(scratch, { recursive: true, force: true });
    await copy;
    return body(stage);
  }
  const release = onCleanup(() => unmount(ctx, merged));
  try {
    await body(merged);
    await copy;
    // The parent's own hard-link groups: known from its seal check, or read now.
    const groups = knownLinkGroups(lower) ?? linkGroups(lower);
    await applyChanges(ctx, await upperChanges(ctx, join(scratch, 'upper')), merged, stage, groups);
  } finally {
    await copy.catch(() => undefined);
    await unmount(ctx, merged);
    release();
    await rm(scratch, { recursive: true, force: true });
  }
}

async function mountOverlay(ctx: BuildContext, lower: string, scratch: string): Promise<boolean> {
  for (const d of ['upper', 'work', 'merged']) await mkdir(join(scratch, d), { recursive: true, mode: 0o700 });
  const opts = `lowerdir=${lower},upperdir=${join(scratch, 'upper')},workdir=${join(scratch, 'work')},redirect_dir=off,metacopy=off,index=on`;
  // Names with a comma or colon cannot be given to overlayfs's lowerdir.
  if (/[,:]/.test(lower + scratch)) return false;
  const r = await ctx.run(['mount', '-t', 'overlay', 'osb-overlay', '-o', opts, join(scratch, 'merged')], { allowFail: true, quiet: true });
  if (r.exitCode !== 0) ctx.log.debug(`no overlay over the cached tree (${r.stderr.trim()}); working on the copy`);
  return r.exitCode === 0;
}

async function unmount(ctx: BuildContext, merged: string): Promise<void> {
  const r = await ctx.run(['umount', merged], { allowFail: true, quiet: true });
  // Busy (a process the steps left behind): detach it, so that nothing stays mounted.
  if (r.exitCode !== 0) await ctx.run(['umount', '--lazy', merged], { allowFail: true, quiet: true });
}

/** What the overlay's upper directory says the steps changed. */
export async function upperChanges(ctx: BuildContext, upper: string): Promise<OverlayChanges> {
  const removed: string[] = [];
  const replaced: string[] = [];
  const changed: string[] = [];
  const opaque = await opaqueDirs(ctx, upper);
  const walk = async (rel: string): Promise<void> => {
    const entries: Dirent[] = await readdir(join(upper, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isCharacterDevice() && (await lstat(join(upper, name))).rdev === 0) {
        removed.push(name);
        continue;
      }
      changed.push(name);
      if (e.isDirectory()) {
        if (opaque.has(name)) replaced.push(name);
        await walk(name);
      }
    }
  };
  await walk('');
  return { removed, replaced, changed };
}

/** Directories of the upper directory marked opaque (trusted.overlay.opaque=y), relative names. */
async function opaqueDirs(ctx: BuildContext, upper: string): Promise<Set<string>> {
  const r = await ctx.run(['getfattr', '--recursive', '--physical', '--absolute-names', '--match', '^trusted\\.overlay\\.opaque$', '--dump', upper], { allowFail: true, quiet: true, readOnly: true });
  const out = new Set<string>();
  let file: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice('# file: '.length);
    else if (file && /^trusted\.overlay\.opaque="y"$/.test(line) && file.startsWith(`${upper}/`)) out.add(file.slice(upper.length + 1));
  }
  return out;
}

/**
 * Apply the steps' changes, read from the merged view, to the copy in `stage`. `groups`: the
 * names of each inode with more than one name in the tree the stage copies (linkGroups).
 */
export async function applyChanges(ctx: BuildContext, c: OverlayChanges, merged: string, stage: string, groups: ReadonlyMap<string, readonly string[]>): Promise<void> {
  for (const name of [...c.removed, ...c.replaced]) await rm(join(stage, name), { recursive: true, force: true });
  // With index=on a hard-linked file is copied up once, under the name it was changed through;
  // its other names (in the lower layer only) show the new inode in the merged view, and are taken too.
  const changed = [...c.changed];
  const seen = new Set(changed);
  for (const name of c.changed) {
    for (const other of groups.get(name) ?? []) {
      if (seen.has(other) || !(await lstat(join(merged, other)).catch(() => undefined))) continue;
      seen.add(other);
      changed.push(other);
    }
  }
  // A name that changed kind, and every changed non-directory: removed first, so that the copy
  // below never writes through an old hard link or into an old directory.
  for (const name of changed) {
    const was = await lstat(join(stage, name)).catch(() => undefined);
    if (!was) continue;
    const now = await lstat(join(merged, name));
    if (!(was.isDirectory() && now.isDirectory())) await rm(join(stage, name), { recursive: true, force: true });
  }
  if (!changed.length) return;
  // GNU tar copies exactly the listed entries (no recursion) with owners, modes, times, xattrs
  // and the hard links among them, and sets the directories' metadata after their contents.
  const list = join(merged, '..', 'changed.list');
  await writeFile(list, changed.map((n) => `${n}\0`).join(''));
  const tar = "tar -C \"$1\" --null --no-recursion --files-from \"$3\" --xattrs --xattrs-include='*' --numeric-owner -cf - | tar -C \"$2\" --xattrs --xattrs-include='*' --numeric-owner --same-permissions --same-owner -xf -";
  await ctx.run(['bash', '-c', `set -euo pipefail; ${tar}`, 'osb-apply-overlay', merged, stage, list], { quiet: true });
}

/** Each name of a file that has other names in the same tree -> all of its names. */
export function linkGroups(root: string): Map<string, readonly string[]> {
  // Synchronous: nothing else runs meanwhile, and a tree of 10k names is read in tens of milliseconds.
  const byInode = new Map<bigint, string[]>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(rel ? join(root, rel) : root, { withFileTypes: true })) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(name);
      else if (e.isFile()) {
        const st = lstatSync(join(root, name), { bigint: true });
        if (st.nlink > 1n) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), name]);
      }
    }
  };
  walk('');
  return groupsOf(byInode);
}
