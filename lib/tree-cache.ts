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
 *
 * A rootfs on a parent shares its unchanged files with the entry (hard links), so a write into the
 * rootfs by hand would change the entry too. Such an entry carries a seal: the sha256 of every
 * non-directory's name, kind, mode, owner, size and mtime, taken when it is built and checked
 * before each use. A write, chmod or chown through any of a file's names changes what the seal
 * covers; an entry that no longer matches is built again, with a warning, never built on.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/**
 * Build the entry unless it is there (complete); returns its directory. In dry-run nothing is
 * built or written. `sealed`: the subdirectory whose files builds share (see above).
 */
export async function ensureCachedTree(ctx: BuildContext, entry: TreeCacheEntry, what: string, build: (dir: string) => Promise<void>, keep = 2, sealed?: string, seal: 'now' | 'later' = 'now'): Promise<string> {
  // Entries half-built by killed runs (of this workdir or another sharing the cache).
  if (!ctx.dryRun) await sweepStaleTemps(dirname(entry.dir));
  if (existsSync(join(entry.dir, '.complete'))) {
    if (sealed && !ctx.dryRun && seal === 'later') {
      // Checked while the caller starts its work, which asks sealVerdict() before it keeps any of it.
      const tree = join(entry.dir, sealed);
      verdicts.set(tree, new Promise((done) => setImmediate(() => done(sealBroken(entry.dir, sealed)))));
      ctx.log.info(`${what} from the cache (${entry.dir})`);
      return entry.dir;
    }
    const changed = sealed && !ctx.dryRun ? sealBroken(entry.dir, sealed) : undefined;
    if (!changed) {
      ctx.log.info(`${what} from the cache (${entry.dir})`);
      return entry.dir;
    }
    ctx.log.warn(`${what} in the cache (${entry.dir}) was changed since it was made (${changed}), by a write into a rootfs that shares its files; making it again`);
  }
  const tmp = `${entry.dir}.osb-tmp-${process.pid}`;
  if (!ctx.dryRun) {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
  }
  try {
    await build(tmp);
    if (ctx.dryRun) return entry.dir;
    if (sealed) await writeFile(join(tmp, SEAL), `${treeSeal(join(tmp, sealed))}\n`);
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

const SEAL = 'seal';

/** The sha256 of every non-directory's name, kind, mode, owner, size and mtime under `root`, in name order. */
export function treeSeal(root: string): string {
  const h = createHash('sha256');
  const byInode = new Map<bigint, string[]>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel ? join(root, rel) : root).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, p), { bigint: true });
      if (st.isDirectory()) walk(p);
      else {
        h.update(`${p}\0${st.mode}\0${st.uid}:${st.gid}\0${st.size}\0${st.mtimeNs}\n`);
        if (st.nlink > 1n && st.isFile()) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), p]);
      }
    }
  };
  walk('');
  // The same walk gives the tree's own hard-link groups, which the overlay needs (rootfs-builder/overlay.ts).
  linkGroupsSeen.set(root, groupsOf(byInode));
  return h.digest('hex');
}

/** inode -> its names in a tree, turned into: each name of a file with other names in the tree -> all of them (sorted). */
export function groupsOf(byInode: ReadonlyMap<bigint, string[]>): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const names of byInode.values()) if (names.length > 1) for (const n of names.sort()) out.set(n, names);
  return out;
}

const verdicts = new Map<string, Promise<string | undefined>>();

/**
 * For a sealed tree handed out with seal 'later': why it no longer matches its seal (then the
 * work done on it must be thrown away and ensureCachedTree asked again, which makes it again),
 * or undefined when it matches or was checked before it was handed out.
 */
export async function sealVerdict(tree: string): Promise<string | undefined> {
  const v = verdicts.get(tree);
  verdicts.delete(tree);
  return v;
}

const linkGroupsSeen = new Map<string, ReadonlyMap<string, readonly string[]>>();

/** The hard-link groups of a sealed tree, when this process has sealed or checked it: each name of a file with other names in the tree -> all of them. */
export function knownLinkGroups(root: string): ReadonlyMap<string, readonly string[]> | undefined {
  return linkGroupsSeen.get(root);
}

/** Why the entry's seal does not match (no seal: made by an osb that shared nothing, so sealed now); undefined when it matches. */
function sealBroken(dir: string, sealed: string): string | undefined {
  const file = join(dir, SEAL);
  const now = treeSeal(join(dir, sealed));
  if (!existsSync(file)) {
    writeFileSync(`${file}.osb-tmp-${process.pid}`, `${now}\n`);
    renameSync(`${file}.osb-tmp-${process.pid}`, file);
    return undefined;
  }
  return readFileSync(file, 'utf8').trim() === now ? undefined : 'a file written, or its mode, owner or time set';
}
