/**
 * Outputs appear under their final name only when complete (DESIGN principle 7), and osb only
 * deletes what it created: every directory osb owns carries a marker file.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile, access, constants } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { onCleanup } from './cleanup.js';
import { OsbError } from './errors.js';
import { sweepStaleTemps } from './stale.js';

/** Name of the marker file in every directory osb creates and may delete. */
export const OWNER_MARKER = '.osb-owned';
const TMP_TAG = '.osb-tmp-';

/** The temporary sibling of `finalPath` used while it is written. */
export function tmpPathFor(finalPath: string, tag = TMP_TAG): string {
  return join(dirname(finalPath), `.${basename(finalPath)}${tag}${process.pid}`);
}

/**
 * Write `finalPath` through a temporary sibling: `body` fills the temporary path, which is renamed
 * into place only if `body` succeeds. On failure or interruption the temporary file is removed.
 * Leftovers of a SIGKILLed run (same name, other pid) are removed first.
 */
export async function writeAtomic<T>(finalPath: string, body: (tmpPath: string) => Promise<T>): Promise<T> {
  return throughTemp(finalPath, body, (tmp) => rename(tmp, finalPath));
}

/**
 * The life of a temporary sibling of `finalPath`, for files and directories alike: leftovers of a
 * SIGKILLed run go first; `fill` writes the temporary, `commit` puts it in place; on a failure of
 * either, or an interruption, the temporary is removed, so only a complete output ever appears.
 */
export async function throughTemp<T>(finalPath: string, fill: (tmpPath: string) => Promise<T>, commit: (tmpPath: string) => Promise<void>): Promise<T> {
  await removeStaleTemps(finalPath);
  const tmp = tmpPathFor(finalPath);
  const release = onCleanup(() => rm(tmp, { recursive: true, force: true }));
  try {
    const result = await fill(tmp);
    await commit(tmp);
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    release();
  }
}

/**
 * Replace directory `finalDir` by the complete directory `stagedDir` (a sibling). The previous
 * directory is moved aside first and deleted after, so a crash leaves the old one or the new one.
 */
export async function replaceDir(stagedDir: string, finalDir: string): Promise<void> {
  if (existsSync(finalDir)) {
    await assertOwnedOrEmpty(finalDir);
    const old = join(dirname(finalDir), `.${basename(finalDir)}.osb-old-${process.pid}`);
    await rename(finalDir, old);
    await rename(stagedDir, finalDir);
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(stagedDir, finalDir);
  }
}

/**
 * Remove `.NAME.osb-tmp-PID` / `.NAME.osb-old-PID` siblings left by killed runs: only those whose
 * process is gone, so a build running beside this one (another workdir sharing a cache or a
 * ROOTFS_DIR) keeps its own.
 */
export async function removeStaleTemps(finalPath: string): Promise<void> {
  await sweepStaleTemps(dirname(finalPath), { prefix: `.${basename(finalPath)}.osb-` });
}

/** Refuse paths osb must never own: `/`, the home directory, and the filesystem roots above them. */
export function assertNotPrecious(path: string, what: string): void {
  const p = resolve(path);
  const home = resolve(process.env.HOME ?? homedir());
  if (p === '/' || p === home || home.startsWith(p + '/')) {
    throw new OsbError(`refusing to use ${p} as ${what}: osb would replace its contents`, `point ${what} at a new directory, e.g. ./workdir/rootfs`);
  }
}

/**
 * The marker beside a directory whose contents are shipped (a rootfs), so the marker itself
 * never ends up inside an image: `parent/.NAME.osb-owned`.
 */
export function siblingMarkerFor(dir: string): string {
  return join(dirname(resolve(dir)), `.${basename(resolve(dir))}${OWNER_MARKER}`);
}

/** A directory osb may replace: missing, empty, or carrying osb's marker (inside or beside it). */
export async function assertOwnedOrEmpty(dir: string): Promise<void> {
  assertNotPrecious(dir, 'an output directory');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  if (names.length > 0 && !names.includes(OWNER_MARKER) && !existsSync(siblingMarkerFor(dir))) {
    throw new OsbError(
      `refusing to replace ${dir}: it is not empty and osb did not create it (no ${OWNER_MARKER} marker)`,
      'choose an empty or new directory, or move its contents away yourself',
    );
  }
}

/** Create `dir` (and parents) and mark it as osb's. */
export async function makeOwnedDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, OWNER_MARKER), 'created by osb; osb may delete this directory\n');
}

const ERRNO_TEXT: Record<string, string> = {
  EROFS: 'read-only filesystem',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a parent is not a directory',
  ENOSPC: 'no space left',
};

/** Create `dir` level by level (recursive mkdir reports ENOENT for EROFS), naming the real cause. */
async function createDirs(dir: string, what: string): Promise<void> {
  const missing: string[] = [];
  let p = resolve(dir);
  while (!existsSync(p)) {
    missing.unshift(p);
    p = dirname(p);
  }
  for (const m of missing) {
    try {
      await mkdir(m);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new OsbError(`cannot create ${what} ${dir}: ${ERRNO_TEXT[code] ?? code} (${code})`, `choose a ${what} you can write to`);
    }
  }
}

/** Check that `dir` exists (or can be created) and is a writable directory; message names the problem. */
export async function ensureWritableDir(dir: string, what: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    return createDirs(dir, what);
  }
  if (!st.isDirectory()) throw new OsbError(`${what} ${dir} is not a directory`, `remove it or choose another ${what}`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new OsbError(`${what} ${dir} is not writable`, `fix its permissions or choose another ${what}`);
  }
}
