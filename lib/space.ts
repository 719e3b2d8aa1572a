/**
 * Free space: checked before osb writes an artefact whose size it knows (a disk image, a
 * squashfs or initrd estimated from the tree), and a full disk met anyway (a tool's or osb's own
 * write failing with ENOSPC) said the same way, in one line:
 *
 *   no space left on MOUNT: need N MiB, have M MiB
 *
 * instead of the tool's own hint (which guesses at a tool problem) or a raw ENOSPC.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CommandError, OsbError } from './errors.js';

const MiB = 1024 * 1024;

/** The nearest existing ancestor of `path`, as a real path. */
function existing(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return realpathSync(p);
}

/** The mount point of the file system holding `path` (from /proc/self/mountinfo). */
export function mountPointOf(path: string): string {
  const real = existing(path);
  let best = '/';
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const field = line.split(' ')[4];
      if (!field) continue;
      const mp = field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
      if ((real === mp || real.startsWith(mp === '/' ? '/' : `${mp}/`)) && mp.length > best.length) best = mp;
    }
  } catch {
    // no /proc: the path itself names the place
    return real;
  }
  return best;
}

/** Bytes osb may still write under `path`: root may use the blocks reserved for it. */
export async function freeBytes(path: string): Promise<number> {
  const st = await statfs(existing(path));
  const blocks = process.getuid?.() === 0 ? st.bfree : st.bavail;
  return Number(blocks) * Number(st.bsize);
}

/**
 * What a compressed archive of `bytes` of data takes at least, for the check before it is
 * written: a low guess on purpose (a Debian minbase compresses to about a third with zstd or
 * gzip), so a build that would fit is never refused; a build that does not is caught by the
 * ENOSPC it meets.
 */
export function compressedEstimate(bytes: number, compression: string): number {
  const ratio = compression === 'none' ? 1 : compression === 'lz4' || compression === 'lzo' ? 0.45 : 0.25;
  return Math.ceil(bytes * ratio);
}

/** Bytes of file data in a tree (regular files; hard links counted once), without following symlinks. */
export function treeDataBytes(root: string): number {
  let total = 0;
  const seen = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const st = lstatSync(p);
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          if (seen.has(key)) continue;
          seen.add(key);
        }
        total += st.size;
      }
    }
  };
  walk(root);
  return total;
}

/** The one line a full disk gets. */
export class NoSpaceError extends OsbError {
  constructor(path: string, needBytes: number, haveBytes: number) {
    super(`no space left on ${mountPointOf(path)}: need ${Math.ceil(needBytes / MiB)} MiB, have ${Math.floor(Math.max(0, haveBytes) / MiB)} MiB`);
    this.name = 'NoSpaceError';
  }
}

/** Fail before writing `needBytes` under `path` when its file system has less free. */
export async function checkFreeSpace(path: string, needBytes: number): Promise<void> {
  const have = await freeBytes(path);
  if (have < needBytes) throw new NoSpaceError(path, needBytes, have);
}

/** Did this failure come from a full file system: ENOSPC from osb's own write, or a tool saying so? */
export function isNoSpace(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    if (c instanceof NoSpaceError) return false; // already said
    const code = (c as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    if (c instanceof CommandError && c.tail.some((l) => /No space left on device|Disk quota exceeded|\bENOSPC\b/.test(l))) return true;
  }
  return false;
}

/**
 * Run `body`, which writes about `needBytes` under `path` (0 when osb cannot estimate it), and
 * turn a full disk into the one line. `have` is the free space before the write; when the
 * estimate proved too low, the need shown is at least what was free.
 */
export async function writingUnder<T>(path: string, needBytes: number | (() => number), body: () => Promise<T>): Promise<T> {
  const need = () => (typeof needBytes === 'number' ? needBytes : needBytes());
  const have = await freeBytes(path);
  if (need() > have) throw new NoSpaceError(path, need(), have);
  try {
    return await body();
  } catch (e) {
    if (!isNoSpace(e)) throw e;
    throw new NoSpaceError(path, Math.max(need(), have + MiB), have);
  }
}
