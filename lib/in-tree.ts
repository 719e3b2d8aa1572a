/**
 * Writing into a guest tree from the host. The tree may be someone else's (a parent image from a
 * registry), and its symlinks are the guest's data: `/usr/bin -> /etc` means the guest's /etc,
 * never the host's. So every path osb writes to is resolved as the guest would resolve it (an
 * absolute link from the tree's /, `..` stopping there), and the last name is never written
 * through: an existing file or link there is removed and a new one made in its place, as a package
 * manager replaces a file. That also keeps a write from reaching other names of the same inode (a
 * rootfs on a parent shares its unchanged files with the cache, rootfs-builder/overlay.ts).
 */
import { copyFile, lstat, mkdir, readlink, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { tmpPathFor } from './atomic.js';
import { withCleanup } from './cleanup.js';
import { OsbError } from './errors.js';
import { mkdirMode } from './modes.js';

/**
 * `guest` (absolute, in the guest) as a host path under `root`, with the symlinks of its
 * directories followed inside the tree. The last name is not followed. `what` names the path in errors.
 */
export async function inTree(root: string, guest: string, what = guest): Promise<string> {
  const parts = guest.split('/').filter(Boolean);
  let at = '/';
  for (let i = 0, hops = 0; i < parts.length; i++) {
    const next = posix.join(at, parts[i]!);
    const st = await lstat(join(root, next)).catch(() => undefined);
    if (st?.isSymbolicLink() && i < parts.length - 1) {
      if (++hops > 40) throw new OsbError(`${what}: too many symlinks in the rootfs`, 'fix the links of the parent image or the tree');
      const target = await readlink(join(root, next));
      const rest = parts.slice(i + 1);
      // normalize() of an absolute path drops `..` at /: a link cannot lead above the tree's /.
      const resolved = posix.normalize(target.startsWith('/') ? target : posix.join(at, target));
      parts.splice(0, parts.length, ...resolved.split('/').filter(Boolean), ...rest);
      i = -1;
      at = '/';
      continue;
    }
    at = next;
  }
  const out = posix.normalize(at);
  if (out.split('/').includes('..')) throw new OsbError(`${what} leads out of the rootfs`);
  return join(root, out);
}

/** A directory of the tree by its guest path, made (with `mode`, whatever the umask) where missing. */
export async function dirInTree(root: string, guest: string, mode = 0o755, what = guest): Promise<string> {
  const path = await inTree(root, `${guest}/.`, what);
  const st = await lstat(path).catch(() => undefined);
  if (st && !st.isDirectory()) throw new OsbError(`${what} in the rootfs is not a directory`, 'replace it in a cmds step or a hook');
  if (!st) await mkdirMode(path, mode);
  return path;
}

/**
 * Where to create a new file, link or node at `guest`: its directory made where missing, and what
 * was at that name (a file, a link, a node) removed, so the write makes a new inode there.
 * A directory at that name is refused.
 */
export async function freshInTree(root: string, guest: string, what = guest): Promise<string> {
  const slash = guest.replace(/\/+$/, '').lastIndexOf('/');
  await dirInTree(root, slash > 0 ? guest.slice(0, slash) : '/', 0o755, what);
  const path = await inTree(root, guest, what);
  const st = await lstat(path).catch(() => undefined);
  if (st?.isDirectory()) throw new OsbError(`${what} in the rootfs is a directory, where osb writes a file`, 'remove it in a cmds step or a hook, or build on another parent');
  if (st) await rm(path, { force: true });
  return path;
}

/**
 * Why a tool that runs on the host (not chrooted) and opens `root` + `guest` would leave the tree:
 * a link on the way that is absolute (the host reads it from its own /) or climbs above the tree.
 * Undefined when the host's path stays inside the tree. Such a tool (dnf's or zypper's cache,
 * logs and database under --installroot) cannot be made to follow the guest's links, so a tree
 * like that is refused for it.
 */
export async function leavesTreeOnHost(root: string, guest: string): Promise<string | undefined> {
  let parts = guest.split('/').filter(Boolean);
  const at: string[] = []; // real directories of the tree, as the host has walked them
  let via = '';
  for (let hops = 0; parts.length; ) {
    const name = parts.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      if (!at.length) return `${via || guest} leads above the tree`;
      at.pop();
      continue;
    }
    const rel = [...at, name].join('/');
    const st = await lstat(join(root, rel)).catch(() => undefined);
    if (!st) return undefined; // made by the tool, as a directory of the tree
    if (!st.isSymbolicLink()) {
      at.push(name);
      continue;
    }
    if (++hops > 40) return `too many symlinks at /${rel}`;
    const target = await readlink(join(root, rel));
    if (target.startsWith('/')) return `/${rel} is a link to ${target}, which the host reads as its own`;
    via = `/${rel} (a link to ${target})`;
    parts = [...target.split('/').filter(Boolean), ...parts];
  }
  return undefined;
}

let copies = 0;
/**
 * `body` on a directory of the workdir (pid-named, removed afterwards) holding copies of the
 * files named (copy's name -> host path): a tool that runs on the host reads a tree's database
 * there, where no link of the tree can lead it elsewhere.
 */
export async function withCopies<T>(workdir: string, tag: string, files: Readonly<Record<string, string>>, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = tmpPathFor(join(workdir, `${tag}-${++copies}`));
  return withCleanup(() => rm(dir, { recursive: true, force: true }), async () => {
    await mkdir(dir, { recursive: true });
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(dir, name));
    return body(dir);
  });
}
