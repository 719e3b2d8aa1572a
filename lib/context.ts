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
  /**
   * For a target that reads a tree whole (Target.trees): say when the build has read `root`, with
   * the fingerprint the builder's own scan gave (lib/tree-fingerprint.ts), or without one for the
   * engine to take it then. Set only while such a target builds.
   */
  readonly treeSeen?: (root: string, print?: () => string) => void;
}
