/** The commands that are not plain targets: build, explain, clean, list-distros. */
import { existsSync, statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertNotPrecious, ensureWritableDir, OWNER_MARKER, siblingMarkerFor, makeOwnedDir } from '../lib/atomic.js';
import { OsbError } from '../lib/errors.js';
import { silentReporter } from '../lib/log.js';
import type { ParsedCommand } from './cli.js';
import { execute, makeContext, printDryRun } from './execute.js';
import { computePlan, type PlanStep } from './plan.js';
import { imagePath, initrdPath, kernelPaths, manifestPath, rootfsDir } from './paths.js';
import type { Settings } from './settings.js';
import { GROUPS, TARGETS } from './targets.js';

/** The workdir must be a directory we can write (or create); checked before anything is made. */
function checkWorkdir(s: Settings): void {
  assertNotPrecious(s.workdir, 'WORKDIR');
  if (existsSync(s.workdir) && !statSync(s.workdir).isDirectory()) {
    throw new OsbError(`workdir ${s.workdir} is not a directory`, 'pass --workdir (WORKDIR) a directory path');
  }
}

export async function planFor(targets: readonly string[], s: Settings, signal?: AbortSignal): Promise<PlanStep[]> {
  const ctx = makeContext({ ...s, dryRun: true }, silentReporter, signal);
  return computePlan(TARGETS, targets, s, ctx, { force: s.force, noDeps: !s.deps });
}

export async function buildTargets(cmd: ParsedCommand, signal: AbortSignal): Promise<void> {
  const s = cmd.settings;
  const requested = GROUPS[cmd.command] ?? [cmd.command];
  checkWorkdir(s);
  const steps = await planFor(requested, { ...s, passthrough: cmd.passthrough } as Settings, signal);
  if (s.dryRun) return printDryRun(steps, { settings: { ...s, passthrough: cmd.passthrough } as Settings, signal });
  await ensureWritableDir(s.workdir, 'workdir');
  if (!existsSync(join(s.workdir, OWNER_MARKER))) await makeOwnedDir(s.workdir);
  await execute(steps, { settings: { ...s, passthrough: cmd.passthrough } as Settings, signal });
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

/** Remove osb's outputs, logs and state from the workdir; the download cache stays. */
export async function cleanCommand(cmd: ParsedCommand): Promise<number> {
  const s = cmd.settings;
  checkWorkdir(s);
  if (!existsSync(s.workdir)) return 0;
  if (!existsSync(join(s.workdir, OWNER_MARKER))) {
    throw new OsbError(`refusing to clean ${s.workdir}: osb did not create it (no ${OWNER_MARKER})`, 'remove it yourself if it is yours');
  }
  const k = kernelPaths(s);
  const files = [imagePath(s), initrdPath(s), manifestPath(s), k.vmlinuz, k.vmlinux, k.config];
  for (const name of await readdir(s.workdir)) if (/^(vmlinu[xz]|config)-/.test(name)) files.push(join(s.workdir, name));
  const dirs = [join(s.workdir, 'logs'), join(s.workdir, '.osb'), k.buildDir];
  const rootfs = rootfsDir(s);
  if (existsSync(siblingMarkerFor(rootfs))) dirs.push(rootfs), files.push(siblingMarkerFor(rootfs));
  for (const p of [...files, ...dirs]) {
    if (!s.dryRun) await rm(p, { recursive: true, force: true });
    else if (existsSync(p)) process.stdout.write(`would remove ${p}\n`);
  }
  return 0;
}

export async function listDistrosCommand(): Promise<number> {
  const { DISTROS } = await import('../distros/index.js');
  for (const d of DISTROS) process.stdout.write(`${d.name.padEnd(8)} default ${d.defaultRelease.padEnd(9)} ${d.describe}\n`);
  return 0;
}
