/**
 * What runPlaybooks looks at in the tree, read the way the tree's own programs would see it: an
 * absolute symlink starts again at the tree's root (lib/guest-path.ts). Nothing outside the tree
 * is read, and nothing outside it is removed.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { join } from 'node:path';
import { statInTree } from '../lib/bootable.js';
import { resolveGuestPath } from '../lib/guest-path.js';

/** Where Ansible's interpreter discovery looks first, in its order. */
const PYTHON_PATHS = ['/usr/bin/python3', '/usr/libexec/platform-python', '/usr/local/bin/python3'] as const;

const isExecutable = (st: Stats | undefined): boolean => st !== undefined && st.isFile() && (st.mode & 0o111) !== 0;

/**
 * The tree's python 3 (a guest path), or undefined: /usr/bin/python3, RHEL 8's platform-python,
 * /usr/local/bin/python3, else the newest /usr/bin/python3.N. Each must lead, inside the tree, to
 * an executable file.
 */
export function findPython(tree: string): string | undefined {
  for (const p of PYTHON_PATHS) if (isExecutable(statInTree(tree, p))) return p;
  const bin = hostPathOf(tree, '/usr/bin');
  if (bin === undefined) return undefined;
  let names: string[];
  try {
    names = readdirSync(bin);
  } catch {
    return undefined;
  }
  const versioned = names
    .map((n) => /^python3\.(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .map((m) => `/usr/bin/${m[0]}`);
  return versioned.find((p) => isExecutable(statInTree(tree, p)));
}

/** The host path of directory `guestDir` of the tree, its symlinks followed inside the tree; undefined if it leads nowhere. */
function hostPathOf(tree: string, guestDir: string): string | undefined {
  const r = resolveGuestPath(guestDir, (name) => {
    const here = join(tree, name);
    let st: Stats;
    try {
      st = lstatSync(here);
    } catch {
      return undefined;
    }
    return { value: st, symlink: st.isSymbolicLink() ? readlinkSync(here) : undefined, dir: st.isDirectory() };
  });
  return typeof r === 'string' || !r.node.dir ? undefined : join(tree, r.name);
}

/**
 * The host path of the entry `guestPath` names (its directory's symlinks followed inside the
 * tree, the entry itself not: a symlink is the entry), or undefined when its directory leads
 * nowhere.
 */
export function entryInTree(tree: string, guestPath: string): string | undefined {
  const norm = posix.normalize(`/${guestPath}`);
  const base = posix.basename(norm);
  if (!base || base === '..' || base === '.') return undefined;
  const dir = hostPathOf(tree, posix.dirname(norm));
  return dir === undefined ? undefined : join(dir, base);
}

/** Whether the entry exists (lstat: a dangling symlink exists). */
export function entryExists(path: string | undefined): boolean {
  if (path === undefined) return false;
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Remove the entry at host path `path` (a symlink is removed, not followed; a directory with all it holds). */
export async function removeEntry(path: string | undefined): Promise<void> {
  if (path !== undefined) await rm(path, { recursive: true, force: true });
}
