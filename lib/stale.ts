/**
 * Leftovers of killed builds. osb writes every output through a temporary name that says whose
 * it is, and a run killed with SIGKILL cannot remove its own:
 *
 * - `NAME.osb-tmp-PID`, `.NAME.osb-stage-PID`, `.NAME.osb-old-PID` (lib/atomic.ts, the rootfs
 *   stage, the cached base trees `cache/base/KEY.osb-tmp-PID`, kernel sources);
 * - the workdir lock's own `lock.PID.tmp` and `lock.stale-PID`;
 * - in the workdir only, names without a pid, owned by whoever holds the workdir's lock:
 *   `.osb-cache-in-TARGET` (and its `.part`), `.osb-cache-out-TARGET`, `FILE.osb-cache`,
 *   `.squashfs-boot-tree-XXXXXX`.
 *
 * A pid-tagged temp is stale when its process is gone, or when the process now holding that pid
 * started after the temp was last written (the pid was reused). Only names of these shapes are
 * ever removed; anything else in the directory is left alone. A killed mmdebstrap leaves /proc,
 * /sys and /dev mounted in its tree: those are detached first (rm must not walk into them), and
 * a tree whose mounts cannot be detached (not root) is left where it is.
 */
import { readFileSync, type Dirent } from 'node:fs';
import { lstat, readdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { processStart } from './lock.js';
import { silentReporter } from './log.js';
import { createRunner } from './run.js';

const PID_TEMP = /\.osb-(?:tmp|stage|old)-(\d+)$|^lock\.(\d+)\.tmp$|^lock\.stale-(\d+)$/;
/** Temps without a pid: only in a directory whose lock this process holds (the workdir). */
const LOCKED_TEMP = /^\.osb-cache-(?:in|out)-[a-z0-9-]+(?:\.part)?$|\.osb-cache$|^\.squashfs-boot-tree-[A-Za-z0-9]{6}$/;

/** The pid an osb temp's name carries, or undefined when it is not a pid-tagged temp. */
function pidOf(name: string): number | undefined {
  const m = PID_TEMP.exec(name);
  return m ? Number(m[1] ?? m[2] ?? m[3]) : undefined;
}

let bootTime: number | undefined;
/** Seconds since the epoch when the machine booted (/proc/stat btime). */
function bootSeconds(): number {
  if (bootTime === undefined) {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    bootTime = m ? Number(m[1]) : 0;
  }
  return bootTime;
}

/** When process `pid` started, in ms since the epoch; undefined when there is no such process. */
function startedAtMs(pid: number): number | undefined {
  const ticks = processStart(pid);
  if (ticks === undefined) return undefined;
  // Clock ticks since boot; USER_HZ is 100 on every Linux architecture osb builds on.
  return (bootSeconds() + Number(ticks) / 100) * 1000;
}

/**
 * The owner of a temp last changed at `changedMs` (its ctime: no tool can set it back, unlike an
 * mtime a tar or SOURCE_DATE_EPOCH sets to the past), whose pid now names a process started at
 * `startedMs` (undefined: no such process), is gone: no process, or one started after the temp
 * last changed, which cannot have written it (the pid was reused).
 */
export function ownerGoneAt(startedMs: number | undefined, changedMs: number): boolean {
  // Two seconds of slack: start times are in clock ticks, and btime in whole seconds.
  return startedMs === undefined || startedMs > changedMs + 2000;
}

/** Is the temp at `path`, tagged with `pid`, left by a process that is gone? */
export async function ownerGone(pid: number, path: string): Promise<boolean> {
  if (pid === process.pid) return false;
  const started = startedAtMs(pid);
  if (started === undefined) return true;
  try {
    return ownerGoneAt(started, (await lstat(path)).ctimeMs);
  } catch {
    return false; // already gone
  }
}

/** Mount points at or under `path` (a real path), deepest first, from /proc/self/mountinfo. */
function mountsUnder(path: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const mp = field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === path || mp.startsWith(`${path}/`)) found.push(mp);
  }
  return found.sort((a, b) => b.length - a.length);
}

/** Remove a stale temp; false when it still has mounts in it (or cannot be removed). */
async function removeTemp(path: string): Promise<boolean> {
  try {
    const real = await realpath(path);
    let mounts = mountsUnder(real);
    if (mounts.length) {
      const run = createRunner({ reporter: silentReporter, sourceDateEpoch: 0 });
      for (const m of mounts) await run(['umount', '--lazy', m], { allowFail: true, quiet: true });
      mounts = mountsUnder(real);
      if (mounts.length) return false;
    }
    await rm(path, { recursive: true, force: true, maxRetries: 2 });
    return true;
  } catch {
    return false; // a leftover osb cannot remove never fails the run that found it
  }
}

export interface SweepOptions {
  /** This process holds the lock of `dir`: names without a pid are stale too. @default false */
  readonly locked?: boolean;
  /** Only names starting with this (the siblings of one output). */
  readonly prefix?: string;
  /** Also look this many levels of subdirectories down (not into temps or symlinks). @default 0 */
  readonly depth?: number;
}

/**
 * The entries of `dir`, each with its path; none when `dir` cannot be read (gone, not a
 * directory): a sweep looks where temps may be, and an absent directory holds none.
 */
async function entriesOf(dir: string): Promise<Array<{ e: Dirent; path: string }>> {
  try {
    return (await readdir(dir, { withFileTypes: true })).map((e) => ({ e, path: join(dir, e.name) }));
  } catch {
    return [];
  }
}

/** Remove the stale temps directly in `dir` (and `depth` levels below); returns what was removed. */
export async function sweepStaleTemps(dir: string, o: SweepOptions = {}): Promise<string[]> {
  // Entries and subdirectories side by side: a sweep runs before every build, and a shared cache
  // has many directories to look into.
  const found = await Promise.all((await entriesOf(dir)).map(async ({ e, path }): Promise<string[]> => {
    if (o.prefix && !e.name.startsWith(o.prefix)) return [];
    const pid = pidOf(e.name);
    const stale = pid !== undefined ? await ownerGone(pid, path) : Boolean(o.locked) && LOCKED_TEMP.test(e.name);
    if (stale) return (await removeTemp(path)) ? [path] : [];
    if (pid === undefined && e.isDirectory() && (o.depth ?? 0) > 0) return sweepStaleTemps(path, { depth: (o.depth ?? 0) - 1 });
    return [];
  }));
  return found.flat();
}

/**
 * `osb clean --cache`: empty the cache's own directories `names` (base trees, downloads, kernel
 * sources), leftovers included. A temp whose process is still running (a build in another
 * workdir sharing the cache) is kept; so is anything that cannot be removed. Returns what was kept.
 */
export async function clearCache(cache: string, names: readonly string[]): Promise<string[]> {
  const kept: string[] = [];
  for (const n of names) {
    const sub = join(cache, n);
    let entries: string[];
    try {
      // A link (verify-repro's shared downloads) goes, what it points to stays.
      if ((await lstat(sub)).isSymbolicLink()) {
        await rm(sub, { force: true });
        continue;
      }
      entries = await readdir(sub);
    } catch {
      continue;
    }
    const before = kept.length;
    for (const e of entries) {
      const path = join(sub, e);
      const pid = pidOf(e);
      if ((pid !== undefined && !(await ownerGone(pid, path))) || !(await removeTemp(path))) kept.push(path);
    }
    if (kept.length === before) await rm(sub, { recursive: true, force: true });
  }
  return kept;
}

/** Every osb temp directly in `dir` (and `depth` levels below), stale or not: for tests and `osb clean`. */
export async function findTemps(dir: string, depth = 0): Promise<string[]> {
  const found: string[] = [];
  for (const { e, path } of await entriesOf(dir)) {
    if (PID_TEMP.test(e.name) || LOCKED_TEMP.test(e.name)) found.push(path);
    else if (e.isDirectory() && depth > 0) found.push(...(await findTemps(path, depth - 1)));
  }
  return found;
}
