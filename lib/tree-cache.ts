/**
 * Trees built once and kept under the cache (like mkosi's Incremental=): the apt base trees and
 * the unpacked parent images. An entry is a directory CACHE/base/NAME-KEY16 holding what `build`
 * put there and a `.complete` marker written last; it is built under `NAME-KEY16.osb-tmp-PID` and
 * renamed into place, so a killed or failed build leaves no entry (the stale sweep removes its
 * temporary). Only the newest `keep` entries of the same NAME are kept, so an archive update or
 * a parent rebuilt every day does not pile up.
 *
 * Entries are read, never written, by the builds that use them: the rootfs is a copy (or an
 * overlay over the entry, see rootfs-builder/overlay.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BuildContext } from './context.js';
import { sweepStaleTemps } from './stale.js';

export interface TreeCacheEntry {
  /** The hash of everything the entry depends on. */
  readonly key: string;
  /** CACHE/base/NAME-KEY16. */
  readonly dir: string;
}

/** Build the entry unless it is there (complete); returns its directory. In dry-run nothing is built or written. */
export async function ensureCachedTree(ctx: BuildContext, entry: TreeCacheEntry, what: string, build: (dir: string) => Promise<void>, keep = 2): Promise<string> {
  // Entries half-built by killed runs (of this workdir or another sharing the cache).
  if (!ctx.dryRun) await sweepStaleTemps(dirname(entry.dir));
  if (existsSync(join(entry.dir, '.complete'))) {
    ctx.log.info(`${what} from the cache (${entry.dir})`);
    return entry.dir;
  }
  const tmp = `${entry.dir}.osb-tmp-${process.pid}`;
  if (!ctx.dryRun) {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
  }
  try {
    await build(tmp);
    if (ctx.dryRun) return entry.dir;
    await writeFile(join(tmp, '.complete'), `${entry.key}\n`);
    await rm(entry.dir, { recursive: true, force: true });
    await rename(tmp, entry.dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await pruneEntries(entry.dir, keep);
  return entry.dir;
}

/** Keep the newest `keep` complete entries with the same name before the key. */
async function pruneEntries(current: string, keep: number): Promise<void> {
  const dir = dirname(current);
  const prefix = current.slice(dir.length + 1).replace(/-[0-9a-f]{16}$/, '-');
  const names = (await readdir(dir)).filter((n) => n.startsWith(prefix) && /^[0-9a-f]{16}$/.test(n.slice(prefix.length)));
  const dated = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n))).mtimeMs })));
  dated.sort((a, b) => b.t - a.t);
  for (const { n } of dated.slice(keep)) await rm(join(dir, n), { recursive: true, force: true });
}
