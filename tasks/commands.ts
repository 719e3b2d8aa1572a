/** The commands that are not plain targets: build, explain, clean, list-distros. */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { assertNotPrecious, assertOwnedOrEmpty, ensureWritableDir, OWNER_MARKER, siblingMarkerFor, makeOwnedDir } from '../lib/atomic.js';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import { createRunner } from '../lib/run.js';
import { silentReporter } from '../lib/log.js';
import type { ParsedCommand } from './cli.js';
import { computePlan, type PlanStep } from './plan.js';
import { bundlePaths, cacheDir, imagePath, initrdPath, kernelPaths, manifestPath, ociPaths, provenancePath, rootfsDir, rootHashPath, sbomPath, squashfsPaths } from './paths.js';
import { updateRecord } from './record.js';
import type { Settings } from './settings.js';
import { GROUPS, TARGETS } from './targets.js';

/** The workdir must be a directory we can write (or create); checked before anything is made. */
function checkWorkdir(s: Settings): void {
  assertNotPrecious(s.workdir, 'WORKDIR');
  if (existsSync(s.workdir) && !statSync(s.workdir).isDirectory()) {
    throw new OsbError(`workdir ${s.workdir} is not a directory`, 'pass --workdir (WORKDIR) a directory path');
  }
}

/**
 * Planning needs a context only for the few read-only commands some targets ask (the compiler's
 * version); a dry-run runner, which loads execa only if one of them runs.
 */
function planContext(s: Settings, signal?: AbortSignal): BuildContext {
  const run = createRunner({ reporter: silentReporter, dryRun: true, sourceDateEpoch: s.sourceDateEpoch, signal });
  return { workdir: s.workdir, log: silentReporter, run, dryRun: true, sourceDateEpoch: s.sourceDateEpoch, jobs: s.jobs, signal };
}

export async function planFor(targets: readonly string[], s: Settings, signal?: AbortSignal): Promise<PlanStep[]> {
  return computePlan(TARGETS, targets, s, planContext(s, signal), { force: s.force, noDeps: !s.deps });
}

/** Nothing to build: say so per target as the runner would, without loading the runner. */
function reportUpToDate(steps: readonly PlanStep[], s: Settings): void {
  for (const step of steps) {
    const name = step.target.name;
    process.stdout.write(s.logFormat === 'ndjson' ? `${JSON.stringify({ time: new Date().toISOString(), event: 'skip', target: name, reason: 'up to date' })}\n` : `↓ ${name} [SKIPPED: up to date]\n`);
  }
}

/**
 * A command that writes the workdir: create it, hold its lock for the whole run (one writer per
 * workdir), and record the input settings this command was given.
 */
export async function openWorkdir(cmd: ParsedCommand, signal?: AbortSignal, record = true): Promise<{ waited: boolean; release: () => Promise<void> }> {
  const s = cmd.settings;
  await ensureWritableDir(s.workdir, 'workdir');
  if (!existsSync(join(s.workdir, OWNER_MARKER))) await makeOwnedDir(s.workdir);
  await mkdir(join(s.workdir, '.osb'), { recursive: true });
  const { acquireLock } = await import('../lib/lock.js');
  let waited = false;
  const who = (h: { pid: number; command: string }) => `osb (pid ${h.pid}: ${h.command})`;
  const release = await acquireLock(join(s.workdir, '.osb', 'lock'), `osb ${cmd.command}`, {
    wait: s.wait !== false,
    signal,
    busyMessage: (h) => `workdir ${s.workdir} is in use by ${who(h)}`,
    onWait: (h) => {
      waited = true;
      process.stderr.write(`osb: waiting for ${who(h)} in ${s.workdir}\n`);
    },
  });
  await sweepLeftovers(s);
  if (record) await updateRecord(s.workdir, cmd.given);
  return { waited, release };
}

/**
 * What killed runs left in this workdir, beside its rootfs and in its cache: removed by the next
 * run that holds the workdir's lock (lib/stale.ts says which names, and when their owner is gone).
 */
async function sweepLeftovers(s: Settings): Promise<void> {
  const { sweepStaleTemps } = await import('../lib/stale.js');
  await sweepStaleTemps(s.workdir, { locked: true });
  await sweepStaleTemps(join(s.workdir, '.osb'), { depth: 1 });
  const rootfs = rootfsDir(s);
  if (dirname(rootfs) !== resolve(s.workdir)) await sweepStaleTemps(dirname(rootfs), { prefix: `.${basename(rootfs)}.osb-` });
  // The cache may be shared with other workdirs: only temps whose process is gone.
  await sweepStaleTemps(cacheDir(s), { depth: 2 });
}

export async function buildTargets(cmd: ParsedCommand, signal: AbortSignal): Promise<void> {
  const s = { ...cmd.settings, passthrough: cmd.passthrough } as Settings;
  const requested = GROUPS[cmd.command] ?? [cmd.command];
  checkWorkdir(s);
  // Planned first: bad input is refused before the workdir is created or locked.
  let steps = await planFor(requested, s, signal);
  if (s.dryRun) return (await import('./execute.js')).printDryRun(steps, { settings: s, signal });
  const { waited, release } = await openWorkdir(cmd, signal);
  try {
    // Whoever held the workdir may have built what this plan would build.
    if (waited) steps = await planFor(requested, s, signal);
    // --cache-to still has work for an up-to-date cacheable target: the cache may lack it.
    const share = Boolean(s.cacheTo) && steps.some((x) => x.target.cacheable);
    if (steps.every((x) => x.action === 'skip') && !share) reportUpToDate(steps, s);
    else await (await import('./execute.js')).execute(steps, { settings: s, signal });
  } finally {
    await release();
  }
}

export async function explainCommand(cmd: ParsedCommand): Promise<number> {
  const s = cmd.settings;
  const target = cmd.positional[0]!;
  checkWorkdir(s);
  const steps = await planFor([target], s);
  for (const step of steps) {
    const verdict = step.action === 'build' ? 'would rebuild' : 'is up to date';
    process.stdout.write(`${step.target.name} ${verdict}${step.action === 'build' ? ':' : ''}\n`);
    if (step.action === 'build') for (const r of step.reasons) process.stdout.write(`  - ${r}\n`);
  }
  return 0;
}

/** What osb keeps in the cache directory (`osb clean --cache` empties these, and only these). */
const CACHE_DIRS = ['base', 'debs', 'apk', 'dnf', 'zypp', 'kernel-src'];

/**
 * Remove osb's outputs, logs and build state from the workdir, and what killed runs left (the
 * lock's sweep). The download cache stays unless --cache is given, and so does the record of the
 * workdir's settings (`osb config --reset` forgets it).
 */
export async function cleanCommand(cmd: ParsedCommand): Promise<number> {
  const s = cmd.settings;
  checkWorkdir(s);
  if (!existsSync(s.workdir)) return 0;
  if (!existsSync(join(s.workdir, OWNER_MARKER))) {
    throw new OsbError(`refusing to clean ${s.workdir}: osb did not create it (no ${OWNER_MARKER})`, 'remove it yourself if it is yours');
  }
  const lock = s.dryRun ? undefined : await openWorkdir(cmd, undefined, false);
  const k = kernelPaths(s);
  const o = ociPaths(s);
  const b = bundlePaths(s);
  const q = squashfsPaths(s);
  const sboms = (['rootfs', 'image', 'initrd', 'oci'] as const).flatMap((k) => [...['spdx', 'cyclonedx'].map((f) => sbomPath({ ...s, sbomFormat: f }, k)), provenancePath(s, k)]);
  const files = [imagePath(s), rootHashPath(s), ...sboms, initrdPath(s), manifestPath(s), k.vmlinuz, k.vmlinux, k.config, o.archive, o.dockerArchive, b.tar, q.image, q.bootInitrd];
  files.push(siblingMarkerFor(o.layout), siblingMarkerFor(b.dir), join(s.workdir, `.${basename(q.bootInitrd)}.inputs`));
  // The OCI layout and the bundle are directories osb made (each with its marker).
  for (const d of [o.layout, b.dir]) if (existsSync(d)) await assertOwnedOrEmpty(d);
  for (const name of await readdir(s.workdir)) if (/^(vmlinu[xz]|config)-/.test(name)) files.push(join(s.workdir, name));
  const dirs = [join(s.workdir, 'logs'), join(s.workdir, '.osb', 'state'), k.buildDir, o.layout, b.dir];
  const rootfs = rootfsDir(s);
  if (existsSync(siblingMarkerFor(rootfs))) dirs.push(rootfs), files.push(siblingMarkerFor(rootfs));
  for (const p of [...files, ...dirs]) {
    if (!s.dryRun) await rm(p, { recursive: true, force: true });
    else if (existsSync(p)) process.stdout.write(`would remove ${p}\n`);
  }
  if (cmd.flags.cache) {
    const cache = cacheDir(s);
    if (s.dryRun) {
      for (const d of CACHE_DIRS) if (existsSync(join(cache, d))) process.stdout.write(`would remove ${join(cache, d)}\n`);
    } else {
      const { clearCache } = await import('../lib/stale.js');
      for (const k of await clearCache(cache, CACHE_DIRS)) process.stdout.write(`kept ${k}: a running osb is writing it, or it cannot be removed\n`);
      // The cache directory itself, when nothing else is left in it.
      if (existsSync(cache) && !(await readdir(cache)).length) await rmdir(cache);
    }
  }
  await lock?.release();
  return 0;
}

export async function listDistrosCommand(): Promise<number> {
  const { DISTROS } = await import('../distros/index.js');
  for (const d of DISTROS) process.stdout.write(`${d.name.padEnd(8)} default ${d.defaultRelease.padEnd(9)} ${d.describe}\n`);
  return 0;
}

/** `osb install-kernel [--prefix DIR]`: the built kernel where Kata looks for it. */
export async function installKernelCommand(cmd: ParsedCommand): Promise<number> {
  const { DEFAULT_PREFIX, installKernel } = await import('../kernel-builder/install.js');
  const prefix = resolve(String(cmd.flags.prefix ?? DEFAULT_PREFIX));
  for (const p of await installKernel(kernelPaths(cmd.settings), prefix, cmd.settings.force)) process.stdout.write(`installed ${p}\n`);
  return 0;
}
