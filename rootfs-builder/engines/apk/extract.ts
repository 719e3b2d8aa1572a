/**
 * Unpacking a verified data segment into the staged rootfs, refusing anything that could land
 * outside it: absolute names, `..`, and any path whose parent inside the tree is a symlink (a
 * package cannot write through a link, its own or another's). Owners are mapped by name through
 * the tree's own /etc/passwd and /etc/group, falling back to the numeric ids, as apk-tools does
 * (src/database.c, apk_resolve_uid/gid), and mode, suid bits and mtimes are kept.
 */
import { readFileSync } from 'node:fs';
import { chmod, chown, lchown, link, lstat, mkdir, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildContext } from '../../../lib/context.js';
import { OsbError } from '../../../lib/errors.js';
import type { DataEntry, OpenedPackage } from './package.js';

export interface OwnedFile {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly checksum?: string;
}

/** A directory of the package, with the files it put there (the `F:`/`R:` blocks of the database). */
export interface OwnedDir {
  readonly name: string;
  uid: number;
  gid: number;
  mode: number;
  readonly files: OwnedFile[];
}

/** Paths already installed, and by which package (for file conflicts between packages). */
export type FileOwners = Map<string, string>;

/** The archive name as a safe relative path, or an error; '' for the root itself. */
export function safeRelative(name: string, what: string): string {
  const trimmed = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  const parts = trimmed.split('/');
  if (name.startsWith('/') || name.includes('\0') || parts.some((p) => p === '..') || (trimmed && parts.some((p) => p === '' || p === '.'))) {
    throw new OsbError(`${what}: refusing archive entry '${name}': it points outside the rootfs`, 'the package is malicious or broken; do not install it');
  }
  return trimmed;
}

function idMap(path: string): Map<string, number> {
  const m = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return m;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!)) m.set(f[0], Number(f[2]));
  }
  return m;
}

/** Every parent of `rel` must be a real directory in the tree; missing ones are created 0755. */
async function ensureParents(root: string, rel: string, what: string): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let cur = root;
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) {
      await mkdir(cur);
      await chmod(cur, 0o755); // whatever the umask
    } else if (st.isSymbolicLink()) throw new OsbError(`${what}: refusing to write '${rel}' through the symlink /${parts.slice(0, i + 1).join('/')}`, 'the package is malicious or broken; do not install it');
    else if (!st.isDirectory()) throw new OsbError(`${what}: cannot install '${rel}': /${parts.slice(0, i + 1).join('/')} is not a directory`, 'two packages disagree about this path');
  }
}

/** Extract `p` into `root`; returns its directories and files for the installed database. */
export async function extractPackage(ctx: BuildContext, root: string, p: OpenedPackage, owners: FileOwners): Promise<OwnedDir[]> {
  const what = `${p.pkg.name}-${p.pkg.version}`;
  const users = idMap(join(root, 'etc/passwd'));
  const groups = idMap(join(root, 'etc/group'));
  const replaces = new Set((p.info.get('replaces') ?? []).flatMap((r) => r.split(/\s+/)).map((r) => r.replace(/[<>=~!].*$/, '')));
  const dirs: OwnedDir[] = [];
  const dirOf = (name: string): OwnedDir => {
    let d = dirs.find((x) => x.name === name);
    if (!d) dirs.push((d = { name, uid: 0, gid: 0, mode: 0o755, files: [] }));
    return d;
  };

  for (const e of p.entries) {
    // Top-level dot names (.PKGINFO, .SIGN.*, .post-install) are control files in apk v2
    // (src/extract_v2.c) and never data; `..` and `../x` are not, and are refused below.
    if (/^\.[^/]+$/.test(e.name) && e.name !== '..') continue;
    const rel = safeRelative(e.name, what);
    if (!rel) continue;
    await ensureParents(root, rel, what);
    const path = join(root, rel);
    const uid = users.get(e.uname) ?? e.uid;
    const gid = groups.get(e.gname) ?? e.gid;
    const existing = await lstat(path).catch(() => undefined);
    if (e.type === 'dir') {
      // An existing symlink stays (apk's mkdirat fails with EEXIST); writing through it is refused above.
      if (!existing) await mkdir(path, { mode: 0o700 });
      else if (!existing.isDirectory() && !existing.isSymbolicLink()) throw new OsbError(`${what}: cannot create directory /${rel}: a file is in the way`, 'two packages disagree about this path');
      if (!existing?.isSymbolicLink()) {
        await chown(path, uid, gid);
        await chmod(path, e.mode);
      }
      Object.assign(dirOf(rel), { uid, gid, mode: e.mode });
      continue;
    }
    const owner = owners.get(rel);
    if (owner && owner !== p.pkg.name && !replaces.has(owner)) {
      throw new OsbError(`${what}: /${rel} is already installed by ${owner}`, `the two packages conflict; drop one of them from EXTRA_PKGS`);
    }
    if (existing?.isDirectory()) throw new OsbError(`${what}: cannot install /${rel}: a directory is in the way`, 'two packages disagree about this path');
    if (existing) await unlink(path);
    await placeEntry(ctx, root, path, e, what);
    if (e.type === 'symlink') await lchown(path, uid, gid);
    else {
      await chown(path, uid, gid);
      // chown clears suid/sgid, so the mode is set after it (as apk does).
      await chmod(path, e.mode);
      if (e.type === 'file') await utimes(path, e.mtime, e.mtime);
    }
    owners.set(rel, p.pkg.name);
    // Node has no setxattr: say so rather than drop file capabilities (e.g. ping's) silently.
    const xattrs = Object.keys(e.pax).filter((k) => k.startsWith('SCHILY.xattr.'));
    if (xattrs.length) ctx.log.warn(`${what}: /${rel}: extended attributes not applied (${xattrs.map((k) => k.slice('SCHILY.xattr.'.length)).join(', ')})`);
    // A hard link carries its target's checksum in the database (apk: link_target_file->csum).
    const checksum = e.type === 'hardlink' ? p.entries.find((x) => x.type === 'file' && safeRelative(x.name, what) === safeRelative(e.linkname, what))?.checksum : e.checksum;
    const slash = rel.lastIndexOf('/');
    dirOf(slash < 0 ? '' : rel.slice(0, slash)).files.push({
      name: rel.slice(slash + 1),
      uid,
      gid,
      mode: e.type === 'symlink' ? 0o777 : e.mode,
      ...(checksum ? { checksum } : {}),
    });
  }
  return dirs;
}

async function placeEntry(ctx: BuildContext, root: string, path: string, e: DataEntry, what: string): Promise<void> {
  switch (e.type) {
    case 'file':
      // 'wx' (O_EXCL) never follows a symlink at the final name.
      await writeFile(path, e.data, { flag: 'wx', mode: 0o600 });
      return;
    case 'symlink':
      await symlink(e.linkname, path);
      return;
    case 'hardlink': {
      const target = safeRelative(e.linkname, what);
      await ensureParents(root, target, what);
      const st = await lstat(join(root, target)).catch(() => undefined);
      if (!st?.isFile()) throw new OsbError(`${what}: hard link ${e.name} points at '${e.linkname}', which is not a file of the package`, 'the package is malicious or broken; do not install it');
      await link(join(root, target), path);
      return;
    }
    case 'char':
    case 'block':
    case 'fifo': {
      const kind = e.type === 'char' ? 'c' : e.type === 'block' ? 'b' : 'p';
      await ctx.run(['mknod', '-m', (e.mode & 0o7777).toString(8), path, kind, ...(kind === 'p' ? [] : [String(e.devmajor), String(e.devminor)])], { quiet: true });
      return;
    }
    case 'dir':
      return;
  }
}
