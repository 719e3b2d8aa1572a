/** What builder tests share: a BuildContext on the real tools, a recording reporter, temp dirs. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { silentReporter, type Reporter } from '../../lib/log.js';
import { createRunner } from '../../lib/run.js';

/** The SOURCE_DATE_EPOCH builder tests run with. */
export const SDE = 1_700_000_000;

export interface TestContextOptions {
  readonly dryRun?: boolean;
  readonly reporter?: Reporter;
  readonly sourceDateEpoch?: number;
  readonly signal?: AbortSignal;
}

/** A BuildContext whose commands log to WORKDIR/logs/<target>.log, as the CLI's do. */
export function makeTestContext(workdir: string, target: string, o: TestContextOptions = {}): BuildContext {
  const reporter = o.reporter ?? silentReporter;
  const sourceDateEpoch = o.sourceDateEpoch ?? SDE;
  return {
    workdir,
    log: reporter,
    run: createRunner({ reporter, sourceDateEpoch, logPath: join(workdir, 'logs', `${target}.log`), dryRun: o.dryRun, signal: o.signal }),
    dryRun: o.dryRun ?? false,
    sourceDateEpoch,
    jobs: 2,
    signal: o.signal,
  };
}

/** A reporter that records info and warn lines. */
export function recordingReporter(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warning: ${m}`), debug() {}, output() {} };
}

const made: string[] = [];
export function tempDir(tag = 'osb-test-'): string {
  const d = mkdtempSync(join(tmpdir(), tag));
  made.push(d);
  return d;
}
export function removeTempDirs(): void {
  // rm -rf copes with trees deeper than PATH_MAX (the long-name tests make some).
  for (const d of made.splice(0)) execFileSync('rm', ['-rf', d]);
}

/** Names in `dir` other than logs/ (what a build left behind). */
export function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n !== 'logs').sort();
}
