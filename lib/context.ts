/** What every builder receives: where to work, how to run commands, how to report. */
import type { Reporter } from './log.js';
import type { Runner } from './run.js';

export interface BuildContext {
  /** The workdir (absolute). Builders put caches and scratch space under it. */
  readonly workdir: string;
  readonly log: Reporter;
  readonly run: Runner;
  /** Print what would be done; change nothing on disk. */
  readonly dryRun: boolean;
  /** Timestamp for every mtime and build date written (seconds since the epoch). */
  readonly sourceDateEpoch: number;
  /** Parallel jobs the user allowed (-j). */
  readonly jobs: number;
  /** Aborted when the user interrupts. */
  readonly signal?: AbortSignal;
}
