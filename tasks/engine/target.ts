/** The shape of a target (DESIGN principle 1): data the graph runner reads. */
import type { BuildContext } from '../../lib/context.js';
import type { InputKey, Settings } from '../settings/table.js';

/** A host tool a target runs; a list means "any one of these" (pigz or gzip). */
export type ToolSpec = string | readonly string[];

export interface Target {
  readonly name: string;
  /** One line for `osb help`, `osb --help` and the README: what it makes, and where. */
  readonly summary: string;
  /** Targets that must be built first, given the settings (boot picks image or initrd). */
  readonly deps: (s: Settings) => readonly string[];
  /** What the words after `--` are for, when it takes them ("extra kernel arguments"). */
  readonly passthrough?: string;
  /** Setting keys whose values are inputs (a typo does not compile). */
  readonly settings: readonly InputKey[];
  /** Input files or directories, hashed by content (an agent binary, hooks, fragments). */
  readonly files?: (s: Settings) => readonly string[];
  /**
   * Directories the target reads whole (the rootfs): what it saw of each (lib/tree-fingerprint.ts)
   * is recorded after a build, and a tree changed since (edited by hand) makes it build again.
   * The engine fingerprints each before the build, unless `treesSeen`: then the builder says when
   * (ctx.treeSeen), beside its tools or from its own scan, and saves the walk before them.
   */
  readonly trees?: (s: Settings) => readonly string[];
  readonly treesSeen?: boolean;
  /** Extra input values computed at plan time (e.g. the compiler version). */
  readonly extraInputs?: (s: Settings, ctx: BuildContext) => Promise<Record<string, string>>;
  /**
   * Paths the target produces; all must exist for it to be up to date. The first is the primary
   * output: what a dependant built with --no-deps needs to exist.
   */
  readonly outputs: (s: Settings) => readonly string[];
  /** The host tools it runs with these settings: what `osb check-deps` looks for. */
  readonly tools?: (s: Settings) => Promise<readonly ToolSpec[]> | readonly ToolSpec[];
  /** Its outputs can be pushed to and pulled from a shared cache (--cache-to / --cache-from). */
  readonly cacheable?: boolean;
  /** Never up to date (an action such as boot). */
  readonly alwaysRun?: boolean;
  /** Checks that need no build (e.g. settings valid for this target), run before anything starts. */
  readonly validate?: (s: Settings) => Promise<void> | void;
  /** Build the outputs. `inputsHash` is the hash of every input (a seed for reproducible ids). */
  readonly run: (ctx: BuildContext, s: Settings, inputsHash: string) => Promise<void>;
}

/** The target table: every target by name, in the order `osb help` lists them. */
export type TargetTable = ReadonlyMap<string, Target>;
