/**
 * `osb verify-repro [TARGET...]`: build each TARGET (image, initrd or oci; default image) twice,
 * in two fresh workdirs, and compare the artefacts' sha256. Several targets share each build's
 * rootfs, so `osb verify-repro initrd image oci` bootstraps the distro twice, not six times. The second build differs in what must not
 * matter: another path (deeper, other names), another umask (077 instead of 022), and other
 * mtimes on its inputs (every file of the rootfs touched to the current time).
 *
 * Where the rootfs comes from:
 * - `--rootfs-dir DIR` (a tree osb or anything else made): DIR stands in for the distro's
 *   bootstrap. It is copied into each workdir, the `--hook` scripts run on the copy as `osb
 *   rootfs` runs them, and TARGET is built from it with --no-deps.
 * - otherwise the whole chain runs in each workdir: `osb rootfs` from the distro, then TARGET.
 *   Each build has a cache of its own (no cached base tree: the distro is really bootstrapped
 *   twice); only the downloaded packages are shared, from --cache-dir when given.
 *
 * On a difference it names what differs: the artefact files, the rootfs files that differ
 * between the two trees (osb's own listing), and diffoscope's report when it is installed.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { lutimes, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { makeOwnedDir } from '../../lib/atomic.js';
import { OsbError, UsageError } from '../../lib/errors.js';
import { sha256File } from '../../lib/hash.js';
import type { CommandRun } from '../cli/command.js';
import type { TargetTable } from '../engine/target.js';
import type { Settings } from '../settings/table.js';
import { loadTargets } from '../targets/index.js';
import { planFor } from './workdir.js';

const REPRO_TARGETS = ['image', 'initrd', 'oci'] as const;
/** The cache's download directories (packages, verified on use): shared by both builds. */
const DOWNLOAD_CACHES = ['debs', 'apk', 'dnf', 'zypp'];

/**
 * Build `wd`'s own cache: empty but for links to the shared download directories, so the second
 * build bootstraps the distro as the first did instead of reusing its cached base tree.
 */
async function buildCache(wd: string, downloads: string): Promise<string> {
  const own = join(wd, 'cache');
  await mkdir(own, { recursive: true });
  for (const d of DOWNLOAD_CACHES) {
    await mkdir(join(downloads, d), { recursive: true });
    await symlink(join(downloads, d), join(own, d));
  }
  return own;
}

/** Every entry of a tree with what identifies its content: type, mode, owner, size/target, sha256. */
export function treeListing(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = '/' + relative(root, p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(rel, `dir ${meta}`);
        walk(p);
      } else if (st.isSymbolicLink()) out.set(rel, `link ${meta} -> ${readlinkSync(p)}`);
      else if (st.isFile()) out.set(rel, `file ${meta} ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      else out.set(rel, `special ${meta} ${st.rdev}`);
    }
  };
  walk(root);
  return out;
}

/** The paths whose entries differ between two listings (added, removed or changed). */
export function listingDifferences(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.filter((k) => a.get(k) !== b.get(k));
}

/** Set every mtime under `root` to `when` (the second build's "other mtimes on the inputs"). */
async function touchTree(root: string, when: Date): Promise<void> {
  const walk = async (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (lstatSync(p).isDirectory()) await walk(p);
      await lutimes(p, when, when);
    }
  };
  await walk(root);
  await lutimes(root, when, when);
}

/** The files to compare: the targets' outputs that are files (the OCI layout directory is in its archive). */
function artefacts(table: TargetTable, s: Settings, targets: readonly string[]): string[] {
  return [...new Set(targets.flatMap((t) => table.get(t)!.outputs(s)))].filter((p) => existsSync(p) && statSync(p).isFile());
}

export const run: CommandRun = async (cmd, { signal }) => {
  const targets = cmd.positional.length ? [...new Set(cmd.positional)] : ['image'];
  for (const t of targets) if (!(REPRO_TARGETS as readonly string[]).includes(t)) throw new UsageError(`osb verify-repro checks ${REPRO_TARGETS.join(', ')}; not '${t}'`);
  const target = targets.join(', ');
  const are = targets.length > 1 ? 'are' : 'is';
  const base = cmd.settings;
  const seedTree = base.rootfsDir;
  if (seedTree && !existsSync(seedTree)) throw new OsbError(`--rootfs-dir ${seedTree} does not exist`, 'pass the tree to build from, or leave --rootfs-dir out to build the rootfs from the distro');
  if (base.dryRun) {
    process.stdout.write(`verify-repro would build ${target} twice in fresh workdirs under ${tmpdir()}/osb-repro-* (${seedTree ? `from a copy of ${seedTree}${base.hook.length ? ' with the hooks run on it' : ''}` : 'the rootfs from the distro first'}; the second under another path, umask 077, other mtimes) and compare the sha256 of its files\n`);
    return 0;
  }
  const table = await loadTargets();
  const top = await mkdtemp(join(tmpdir(), 'osb-repro-'));
  const dirs = [join(top, 'a'), join(top, 'elsewhere', 'deeper', 'b')];
  const umasks = [0o022, 0o077];
  const saved = process.umask();
  const results: { settings: Settings; files: Map<string, string> }[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const wd = dirs[i]!;
      await makeOwnedDir(wd);
      process.umask(umasks[i]!);
      const own = seedTree ? {} : { cacheDir: await buildCache(wd, base.cacheDir ? resolve(base.cacheDir) : join(top, 'downloads')) };
      const s: Settings = { ...base, ...own, workdir: wd, rootfsDir: undefined, force: true, deps: !seedTree, dryRun: false, passthrough: [] };
      process.stdout.write(`verify-repro: build ${i + 1} of 2 in ${wd} (umask ${umasks[i]!.toString(8).padStart(3, '0')})\n`);
      const { execute, makeContext } = await import('../engine/execute.js');
      if (seedTree) {
        const ctx = makeContext(s, (await import('../../lib/log.js')).silentReporter, signal, join(wd, 'logs', 'verify-repro.log'));
        await ctx.run(['cp', '-a', '--reflink=auto', seedTree, join(wd, 'rootfs')]);
        if (i === 1) await touchTree(join(wd, 'rootfs'), new Date());
        const { runHooks } = await import('../../rootfs-builder/hooks.js');
        await runHooks(ctx, base.hook, join(wd, 'rootfs'), {});
      }
      await execute(await planFor(targets, s, signal), { settings: s, signal });
      const files = new Map<string, string>();
      for (const f of artefacts(table, s, targets)) files.set(relative(wd, f), await sha256File(f));
      results.push({ settings: s, files });
    }
  } finally {
    process.umask(saved);
  }
  const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
  const names = [...new Set([...a.files.keys(), ...b.files.keys()])].sort();
  const differ = names.filter((n) => a.files.get(n) !== b.files.get(n));
  for (const n of names) process.stdout.write(`${a.files.get(n) === b.files.get(n) ? 'same   ' : 'DIFFERS'} ${n} ${a.files.get(n)?.slice(0, 16) ?? '-'} ${b.files.get(n)?.slice(0, 16) ?? '-'}\n`);
  if (!differ.length) {
    await rm(top, { recursive: true, force: true });
    process.stdout.write(`verify-repro: ${target} ${are} reproducible: ${names.length} files, the same sha256 from both builds\n`);
    return 0;
  }
  // Which rootfs files differ, from osb's own listing of the two trees.
  const trees = dirs.map((d) => join(d, 'rootfs'));
  const inTree = trees.every((t) => existsSync(t)) ? listingDifferences(treeListing(trees[0]!), treeListing(trees[1]!)) : [];
  for (const p of inTree) process.stdout.write(`rootfs file differs: ${p}\n`);
  if (await hasDiffoscope()) {
    const { makeContext } = await import('../engine/execute.js');
    const ctx = makeContext(a.settings, (await import('../../lib/log.js')).silentReporter, signal);
    for (const n of differ) {
      const r = await ctx.run(['diffoscope', '--no-progress', '--text', '-', '--max-report-size', '200000', join(dirs[0]!, n), join(dirs[1]!, n)], { allowFail: true, quiet: true, readOnly: true });
      process.stdout.write(`diffoscope ${n}:\n${r.stdout.split('\n').slice(0, 60).join('\n')}\n`);
    }
  }
  throw new OsbError(
    `${target} ${are} not reproducible: ${differ.join(', ')} differ${inTree.length ? `; rootfs files that differ: ${inTree.slice(0, 10).join(', ')}${inTree.length > 10 ? ', ...' : ''}` : ''}`,
    `both builds are kept for inspection in ${top}`,
  );
};

async function hasDiffoscope(): Promise<boolean> {
  const path = (process.env.PATH ?? '').split(':').filter(Boolean);
  return path.some((d) => existsSync(join(d, 'diffoscope')));
}
