/**
 * Runs a plan: dependencies first, independent targets in parallel up to -j, each target's
 * subprocess output in WORKDIR/logs/<target>.log. Rendering is listr2 on a terminal, plain lines
 * otherwise, or NDJSON events. Only this folder imports listr2, and only when something builds.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { OsbError } from '../../lib/errors.js';
import type { Reporter } from '../../lib/log.js';
import { createRunner } from '../../lib/run.js';
import { hashValue } from '../../lib/hash.js';
import { treeFingerprint } from '../../lib/tree-fingerprint.js';
import type { PlanStep } from './plan.js';
import type { Settings } from '../settings/table.js';
import { writeState } from './state.js';

export interface ExecuteOptions {
  readonly settings: Settings;
  readonly signal?: AbortSignal;
  /** Where text goes (stdout by default); tests pass their own. */
  readonly out?: NodeJS.WritableStream;
}

/** A target failed; carries its name so the entry point can say which. */
export class TargetFailedError extends OsbError {
  readonly target: string;
  override readonly cause: unknown;
  constructor(target: string, cause: unknown) {
    const inner = cause instanceof Error ? cause.message : String(cause);
    super(`${target} failed: ${inner}`, cause instanceof OsbError ? cause.hint : undefined);
    this.target = target;
    this.cause = cause;
  }
}

type Event = { event: 'start' | 'finish' | 'skip' | 'fail'; target: string; ms?: number; reason?: string; error?: string };

export function logPathFor(workdir: string, target: string): string {
  return join(workdir, 'logs', `${target}.log`);
}

export function makeContext(s: Settings, reporter: Reporter, signal?: AbortSignal, logPath?: string): BuildContext {
  return {
    workdir: s.workdir,
    log: reporter,
    run: createRunner({ reporter, logPath, dryRun: s.dryRun, debug: s.debug, sourceDateEpoch: s.sourceDateEpoch, signal }),
    dryRun: s.dryRun,
    sourceDateEpoch: s.sourceDateEpoch,
    jobs: s.jobs,
    signal,
  };
}

/** --dry-run: print the plan and each command the builds would run; nothing is written. */
export async function printDryRun(steps: readonly PlanStep[], o: ExecuteOptions): Promise<void> {
  const out = o.out ?? process.stdout;
  for (const step of steps) {
    out.write(step.action === 'build' ? `${step.target.name}: would build (${step.reasons.join('; ')})\n` : `${step.target.name}: up to date\n`);
    if (step.action !== 'build') continue;
    const say = (m: string) => out.write(`  ${m}\n`);
    const reporter: Reporter = { info: say, warn: (m) => say(`warning: ${m}`), debug: () => {}, output: () => {} };
    await step.target.run(makeContext(o.settings, reporter, o.signal), o.settings, hashValue(step.inputs));
  }
}

/** Build every step marked 'build', in dependency order with up to `jobs` at once. */
export async function execute(steps: readonly PlanStep[], o: ExecuteOptions): Promise<void> {
  // The launcher keeps a code cache of a run that built something apart (tasks/launch.ts).
  if (steps.some((x) => x.action === 'build')) (globalThis as Record<symbol, unknown>)[Symbol.for('osb.built')] = true;
  const s = o.settings;
  const out = o.out ?? process.stdout;
  const ndjson = s.logFormat === 'ndjson';
  const emit = (e: Event) => {
    if (ndjson) out.write(JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n');
  };
  const warnings: string[] = [];
  const interactive = process.stdout.isTTY === true && !process.env.CI;
  /** Lines printed after the task list: what --cache-to did with an up-to-date target. */
  const notes: string[] = [];
  // One settled-promise per target, created up front so a target can wait for a dependency
  // that has not started yet.
  const done = new Map<string, Promise<void>>();
  const settle = new Map<string, () => void>();
  for (const step of steps) done.set(step.target.name, new Promise<void>((r) => settle.set(step.target.name, r)));
  const failed = new Set<string>();
  let firstError: unknown;

  const reporterFor = (name: string, setOutput: (line: string) => void): Reporter => ({
    info: (m) => setOutput(m),
    warn: (m) => {
      warnings.push(`${name}: ${m}`);
      // Plain output keeps each warning for the summary on stderr only: printed live as well, a
      // user read it twice. The terminal's task list shows it while it runs, then the summary.
      if (interactive) setOutput(`warning: ${m}`);
    },
    debug: (m) => s.debug && setOutput(m),
    output: (line) => s.verbose && setOutput(line),
  });

  const runStep = async (step: PlanStep, setOutput: (line: string) => void, skip: (why: string) => void) => {
    const name = step.target.name;
    for (const d of step.deps) await done.get(d);
    const badDep = step.deps.find((d) => failed.has(d));
    if (badDep) {
      failed.add(name);
      emit({ event: 'skip', target: name, reason: `${badDep} failed` });
      skip(`not built: ${badDep} failed`);
      return;
    }
    if (step.action === 'skip' && !(step.target.cacheable && s.cacheTo)) {
      emit({ event: 'skip', target: name, reason: 'up to date' });
      skip('up to date');
      return;
    }
    const logPath = logPathFor(s.workdir, name);
    const reporter = reporterFor(name, setOutput);
    if (step.action === 'skip') {
      // Up to date, and --cache-to: the cache gets it unless it has it already, so the next
      // machine's --cache-from finds what this one built earlier.
      try {
        const { shareUpToDate } = await import('./cache.js');
        const what = await shareUpToDate(makeContext(s, reporter, o.signal, logPath), s, step.target, hashValue(step.inputs));
        notes.push(`${name} up to date; ${what}`);
        emit({ event: 'skip', target: name, reason: `up to date; ${what}` });
        skip('up to date');
      } catch (err) {
        failed.add(name);
        emit({ event: 'fail', target: name, error: err instanceof Error ? err.message : String(err) });
        const wrapped = new TargetFailedError(name, err);
        firstError ??= wrapped;
        throw wrapped;
      }
      return;
    }
    await mkdir(join(s.workdir, 'logs'), { recursive: true });
    await rm(logPath, { force: true });
    const t0 = Date.now();
    emit({ event: 'start', target: name, reason: step.reasons.join('; ') });
    try {
      // What the target reads whole is fingerprinted before it reads it, by the engine or by the
      // builder (ctx.treeSeen): a change made after that is seen by the next run.
      const trees = step.target.trees?.(s) ?? [];
      const seen = new Map<string, () => string>();
      const fingerprint = (root: string) => {
        const fp = treeFingerprint(root);
        return () => fp;
      };
      if (!step.target.treesSeen) for (const t of trees) seen.set(t, fingerprint(t));
      const treeSeen = (root: string, print?: () => string) => {
        const r = resolve(root);
        if (trees.includes(r) && !seen.has(r)) seen.set(r, print ?? fingerprint(r));
      };
      const ctx = { ...makeContext(s, reporter, o.signal, logPath), ...(trees.length ? { treeSeen } : {}) };
      const hash = hashValue(step.inputs);
      const cache = step.target.cacheable ? await import('./cache.js') : undefined;
      const pulled = cache && s.cacheFrom ? await cache.restoreFromCache(ctx, s, step.target, hash) : false;
      if (!pulled) {
        await step.target.run(ctx, s, hash);
        if (cache && s.cacheTo) await cache.saveToCache(ctx, s, step.target, hash);
      }
      // A build that did not say (pulled from the cache, or a path that reads no tree): now.
      for (const t of trees) if (!seen.has(t)) seen.set(t, fingerprint(t));
      await writeState(s.workdir, name, { ...step.inputs }, step.values, trees.length ? Object.fromEntries(trees.map((t) => [t, seen.get(t)!()])) : undefined);
      emit({ event: 'finish', target: name, ms: Date.now() - t0 });
    } catch (err) {
      failed.add(name);
      emit({ event: 'fail', target: name, ms: Date.now() - t0, error: err instanceof Error ? err.message : String(err) });
      const wrapped = err instanceof TargetFailedError ? err : new TargetFailedError(name, err);
      firstError ??= wrapped;
      throw wrapped;
    }
  };

  const { Listr } = await import('listr2');
  const list = new Listr(
    steps.map((step) => ({
      title: step.target.name,
      task: (_: unknown, task: { output: string; skip: (m: string) => void; title: string }) => {
        return runStep(
          step,
          (line) => {
            task.output = line;
          },
          (why) => task.skip(why),
        )
          // The entry point prints the error once; the task list only marks the target failed.
          .catch(() => {
            throw new Error('');
          })
          .finally(() => settle.get(step.target.name)!());
      },
    })),
    {
      concurrent: s.jobs,
      exitOnError: false,
      registerSignalListeners: false,
      renderer: ndjson || o.out ? 'silent' : interactive ? 'default' : 'simple',
      fallbackRenderer: 'simple',
      rendererOptions: { outputBar: s.verbose ? 10 : 1, persistentOutput: s.verbose } as never,
    } as never,
  );
  await list.run().catch((e: unknown) => {
    if (!firstError) throw e; // a renderer failure, not a target's
  });
  if (!ndjson) for (const n of notes) out.write(`${n}\n`);
  for (const w of warnings) if (!ndjson) process.stderr.write(`warning: ${w}\n`);
  if (firstError) throw firstError;
}
