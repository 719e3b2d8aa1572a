/**
 * What every command that plans or writes the workdir shares: the workdir check, the plan over
 * the target table, and the lock held while a command writes (with the record of its settings).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { assertNotPrecious, ensureWritableDir, OWNER_MARKER, makeOwnedDir } from '../../lib/atomic.js';
import type { BuildContext } from '../../lib/context.js';
import { OsbError } from '../../lib/errors.js';
import { createRunner } from '../../lib/run.js';
import { silentReporter } from '../../lib/log.js';
import type { ParsedCommand } from '../cli/command.js';
import { updateRecord } from '../cli/record.js';
import { computePlan, type PlanStep } from '../engine/plan.js';
import { requireOneArch } from '../settings/arches.js';
import { cacheDir, rootfsDir } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { loadTargets } from '../targets/index.js';

/** The workdir must be a directory we can write (or create); checked before anything is made. */
export function checkWorkdir(s: Settings): void {
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
  requireOneArch(s, `osb ${targets.join(' ')}`);
  return computePlan(await loadTargets(), targets, s, planContext(s, signal), { force: s.force, noDeps: !s.deps });
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
  const { acquireLock } = await import('../../lib/lock.js');
  let waited = false;
  const who = (h: { pid: number; command: string }) => `osb (pid ${h.pid}: ${h.command})`;
  const release = await acquireLock(join(s.workdir, '.osb', 'lock'), `osb ${cmd.command}`, {
    wait: s.wait,
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
  const { sweepStaleTemps } = await import('../../lib/stale.js');
  const rootfs = rootfsDir(s);
  await Promise.all([
    sweepStaleTemps(s.workdir, { locked: true }),
    sweepStaleTemps(join(s.workdir, '.osb'), { depth: 1 }),
    dirname(rootfs) !== resolve(s.workdir) && sweepStaleTemps(dirname(rootfs), { prefix: `.${basename(rootfs)}.osb-` }),
    // The cache may be shared with other workdirs: only temps whose process is gone.
    sweepStaleTemps(cacheDir(s), { depth: 2 }),
  ]);
}
