/**
 * Unpack an archive osb does not trust (a parent image's layer, a cache artefact, an
 * oci-archive) into a tree, so that nothing can land outside it.
 *
 * - Every name is checked before anything of the layer is written: no absolute names, no `..`,
 *   no NUL; device nodes only under dev/ (where the policy allows them at all); a hard link
 *   names something inside the tree; a name is not given twice with two different kinds.
 * - Every path is then resolved component by component with lstat, and nothing is written,
 *   linked, whited out or made opaque *through* a symlink: a symlink may point anywhere (it is
 *   data in the guest), but no member goes past one. This is RESOLVE_IN_ROOT done strictly: a
 *   layer that writes through even an in-tree symlink is refused, since image builders record
 *   real paths and only a crafted layer does otherwise.
 * - A member that replaces an existing name of another kind (a later layer's directory over a
 *   lower layer's symlink) removes that name first, without following it, as OCI's layer
 *   semantics say.
 * - The archive is parsed by untar.ts, which is the same parser for the checks and the writes.
 *
 * The caller unpacks into a staging tree; on a refusal it throws away the stage, so the previous
 * rootfs stays as it was. Errors name the archive (`what`) and the member.
 */
import { closeSync, fchmodSync, fchownSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeSync, chmodSync, constants, type Stats } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import type { TarKind } from './tree.js';
import { readTar, type TarHeader } from './untar.js';

export interface ExtractPolicy {
  /** Says which archive in errors: "parent layer sha256:…", "cache artefact …". */
  readonly what: string;
  /** Apply OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) to what is below; otherwise they are plain names. */
  readonly whiteouts: boolean;
  /** Kinds the archive may hold (default: all). Device nodes are in any case only allowed under dev/. */
  readonly kinds?: ReadonlySet<TarKind>;
  /** Keep numeric owners (as root). Default: when running as root. */
  readonly owners?: boolean;
}

export interface ExtractResult {
  readonly members: number;
  readonly whiteouts: number;
}

const fsPath = (root: string, name: string): Buffer => Buffer.concat([Buffer.from(root), Buffer.from('/'), Buffer.from(name, 'latin1')]);
const printable = (name: string) => Buffer.from(name, 'latin1').toString().replace(/[^\x20-\x7e\u00a0-\uffff]/g, '?');

class Refusal extends OsbError {}

/** `./a//b/` -> `a/b`; '' for the root itself; throws on absolute names and `..`. */
export function memberName(raw: string): string {
  if (raw.startsWith('/')) throw new Error('is an absolute name');
  const parts = raw.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new Error("climbs out of the tree with '..'");
  return parts.join('/');
}

interface Planned {
  readonly name: string;
  readonly header: TarHeader;
}

/** What one pass over the archive's headers found: the members to write and the whiteouts to apply. */
interface Plan {
  readonly whiteouts: { dir: string; name: string; raw: string }[];
  readonly opaque: { dir: string; raw: string }[];
  readonly members: number;
}

async function plan(file: string, p: ExtractPolicy, signal?: AbortSignal): Promise<Plan> {
  const whiteouts: Plan['whiteouts'] = [];
  const opaque: Plan['opaque'] = [];
  const kindOf = new Map<string, TarKind>();
  let members = 0;
  for await (const m of readTarChecked(file, p)) {
    signal?.throwIfAborted();
    const h = m.header;
    const refuse = (why: string, hint?: string): never => {
      throw new Refusal(`${p.what}: member '${printable(h.name)}' ${why}`, hint ?? 'osb does not unpack this archive: it could change files outside the tree');
    };
    let name: string;
    try {
      name = memberName(h.name);
    } catch (e) {
      return refuse((e as Error).message);
    }
    members++;
    const base = posix.basename(name);
    if (p.whiteouts && base.startsWith('.wh.')) {
      const dir = posix.dirname(name) === '.' ? '' : posix.dirname(name);
      if (base === '.wh..wh..opq') opaque.push({ dir, raw: h.name });
      else if (!base.startsWith('.wh..wh.')) whiteouts.push({ dir, name: base.slice(4), raw: h.name });
      continue; // aufs' other .wh..wh.* names carry nothing for the tree
    }
    if (name === '') {
      if (h.kind !== 'dir') refuse('names the root of the tree as something other than a directory');
      continue;
    }
    if (p.kinds && !p.kinds.has(h.kind)) refuse(`is a ${h.kind}, which this archive may not hold`);
    if ((h.kind === 'char' || h.kind === 'block') && !(name.startsWith('dev/') || name === 'dev')) refuse(`is a ${h.kind} device (${h.devMajor}:${h.devMinor}) outside dev/`);
    if (h.kind === 'hardlink') {
      let target: string;
      try {
        target = memberName(h.linkname);
      } catch (e) {
        return refuse(`is a hard link whose target '${printable(h.linkname)}' ${(e as Error).message}`);
      }
      if (target === '' || target === name) refuse(`is a hard link to '${printable(h.linkname)}'`);
    }
    const was = kindOf.get(name);
    if (was && was !== h.kind && !(was === 'file' && h.kind === 'hardlink') && !(was === 'hardlink' && h.kind === 'file')) refuse(`appears twice, as a ${was} and as a ${h.kind}`);
    kindOf.set(name, h.kind);
  }
  return { whiteouts, opaque, members };
}

/** readTar with its format errors named after the archive. */
async function* readTarChecked(file: string, p: ExtractPolicy) {
  try {
    for await (const m of readTar(file)) yield m;
  } catch (e) {
    if (e instanceof OsbError) throw e;
    throw new OsbError(`${p.what} is not a tar archive osb can read: ${(e as Error).message}`, 'the archive is damaged or crafted; pull or write it again');
  }
}

const lst = (path: Buffer | string): Stats | undefined => {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
};

/**
 * Resolve the directory `dir` (a checked member name) under root without going through a symlink.
 * `create`: make missing directories (0755, root-owned, as tar does). Returns false when a
 * component is missing and `create` is off.
 */
function walkDirs(root: string, dir: string, create: boolean, verified: Set<string>, refuse: (why: string) => never): boolean {
  if (dir === '' || verified.has(dir)) return true;
  const parts = dir.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (verified.has(prefix)) continue;
    const path = fsPath(root, prefix);
    const st = lst(path);
    if (!st) {
      if (!create) return false;
      mkdirSync(path);
      chmodSync(path, 0o755);
    } else if (st.isSymbolicLink()) {
      refuse(`goes through the symlink ${printable(prefix)}, which osb never follows inside an archive`);
    } else if (!st.isDirectory()) {
      if (!create) return false;
      refuse(`goes through ${printable(prefix)}, which is not a directory`);
    }
    verified.add(prefix);
  }
  return true;
}

/** Forget verified directories at or under `name` (it is about to be replaced). */
function forget(verified: Set<string>, name: string): void {
  verified.delete(name);
  const pre = `${name}/`;
  for (const v of verified) if (v.startsWith(pre)) verified.delete(v);
}

/** Remove whatever is at path, without following it. */
function removeAt(path: Buffer, st: Stats): void {
  if (st.isDirectory()) rmSync(path, { recursive: true, force: true });
  else unlinkSync(path);
}

function escapeSetfattr(name: Buffer): string {
  let s = '';
  for (const b of name) s += (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2f || b === 0x2e || b === 0x5f || b === 0x2d ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`;
  return s;
}

/** Unpack `file` into `root` (an existing directory) under the policy. */
export async function extractTar(ctx: Pick<BuildContext, 'run' | 'signal'>, file: string, root: string, p: ExtractPolicy): Promise<ExtractResult> {
  const owners = p.owners ?? process.getuid?.() === 0;
  const pl = await plan(file, p, ctx.signal);
  const verified = new Set<string>();

  // Whiteouts apply to the layers below, so before this layer's members are written.
  for (const w of [...pl.whiteouts.map((x) => ({ ...x, opq: false })), ...pl.opaque.map((x) => ({ ...x, name: '', opq: true }))]) {
    const refuse = (why: string): never => {
      throw new Refusal(`${p.what}: whiteout '${printable(w.raw)}' ${why}`, 'osb does not unpack this archive: it could remove files outside the tree');
    };
    if (!walkDirs(root, w.dir, false, verified, refuse)) continue; // nothing there to remove
    const dirPath = w.dir === '' ? Buffer.from(root) : fsPath(root, w.dir);
    if (w.opq) {
      for (const child of readdirSync(dirPath, { encoding: 'buffer' })) rmSync(Buffer.concat([dirPath, Buffer.from('/'), child]), { recursive: true, force: true });
      forget(verified, w.dir === '' ? '' : w.dir);
      if (w.dir === '') verified.clear();
    } else {
      const target = w.dir === '' ? w.name : `${w.dir}/${w.name}`;
      const st = lst(fsPath(root, target));
      if (st) removeAt(fsPath(root, target), st);
      forget(verified, target);
    }
  }

  const dirs = new Map<string, TarHeader>();
  const xattrs = new Map<string, ReadonlyMap<string, Buffer>>();
  const devices = new Map<string, Planned>();
  const kept = (name: string) => {
    for (const k of xattrs.keys()) if (k === name || k.startsWith(`${name}/`)) xattrs.delete(k);
    for (const k of dirs.keys()) if (k === name || k.startsWith(`${name}/`)) dirs.delete(k);
    for (const k of devices.keys()) if (k === name || k.startsWith(`${name}/`)) devices.delete(k);
  };
  for await (const m of readTarChecked(file, p)) {
    ctx.signal?.throwIfAborted();
    const h = m.header;
    const name = memberName(h.name);
    if (name === '' || (p.whiteouts && posix.basename(name).startsWith('.wh.'))) continue;
    const refuse = (why: string): never => {
      throw new Refusal(`${p.what}: member '${printable(h.name)}' ${why}`, 'osb does not unpack this archive: it could change files outside the tree');
    };
    const dir = posix.dirname(name) === '.' ? '' : posix.dirname(name);
    walkDirs(root, dir, true, verified, refuse);
    const path = fsPath(root, name);
    const st = lst(path);
    if (h.kind === 'dir') {
      if (st && !st.isDirectory()) {
        removeAt(path, st);
        kept(name);
      }
      if (!st || !st.isDirectory()) mkdirSync(path);
      verified.add(name);
      dirs.set(name, h);
      if (h.xattrs.size) xattrs.set(name, h.xattrs);
      continue;
    }
    if (st) {
      removeAt(path, st);
      forget(verified, name);
      kept(name);
    }
    switch (h.kind) {
      case 'file': {
        const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of m.data()) {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off);
          }
          if (owners) fchownSync(fd, h.uid, h.gid);
          fchmodSync(fd, h.mode);
          futimesSync(fd, h.mtime, h.mtime);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink':
        symlinkSync(Buffer.from(h.linkname, 'latin1'), path);
        if (owners) lchownSync(path, h.uid, h.gid);
        lutimesSync(path, h.mtime, h.mtime);
        break;
      case 'hardlink': {
        const target = memberName(h.linkname);
        const tdir = posix.dirname(target) === '.' ? '' : posix.dirname(target);
        const tst = walkDirs(root, tdir, false, verified, (why) => refuse(`is a hard link whose target ${why}`)) ? lst(fsPath(root, target)) : undefined;
        if (!tst) refuse(`is a hard link to '${printable(h.linkname)}', which is not in the tree`);
        if (tst!.isDirectory()) refuse(`is a hard link to the directory '${printable(h.linkname)}'`);
        linkSync(fsPath(root, target), path);
        break;
      }
      case 'char':
      case 'block':
      case 'fifo':
        devices.set(name, { name, header: h });
        // a placeholder keeps the name taken in order; mknod replaces it below
        closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
        break;
    }
    if (h.xattrs.size && h.kind !== 'symlink') xattrs.set(name, h.xattrs);
  }

  // Device nodes and fifos: Node has no mknod. Each path's directories were checked above, and
  // nothing after it in the archive replaced them (kept() would have dropped it).
  for (const d of devices.values()) {
    const path = fsPath(root, d.name);
    unlinkSync(path);
    const h = d.header;
    const spec = h.kind === 'fifo' ? ['p'] : [h.kind === 'char' ? 'c' : 'b', String(h.devMajor), String(h.devMinor)];
    await ctx.run(['mknod', '-m', (h.mode & 0o777).toString(8), path.toString(), ...spec], { quiet: true });
    if (owners) lchownSync(path, h.uid, h.gid);
    if (h.mode & 0o7000) chmodSync(path, h.mode);
    lutimesSync(path, h.mtime, h.mtime);
  }

  if (xattrs.size) {
    // One setfattr for the layer (Node has no xattr API); -h before --restore: never follow a symlink.
    const tmp = await mkdtemp(join(tmpdir(), 'osb-setfattr-'));
    try {
      const lines: string[] = [];
      for (const [name, x] of xattrs) {
        lines.push(`# file: ${escapeSetfattr(fsPath(root, name))}`);
        for (const [k, v] of x) if (k !== 'security.selinux') lines.push(`${escapeSetfattr(Buffer.from(k, 'latin1'))}=0x${v.toString('hex')}`);
        lines.push('');
      }
      await writeFile(join(tmp, 'dump'), `${lines.join('\n')}\n`);
      await ctx.run(['setfattr', '-h', `--restore=${join(tmp, 'dump')}`], { quiet: true, hint: 'setfattr (package attr) sets file capabilities and other xattrs' });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  // Directories last, deepest first, so writing into them does not move their mtimes again.
  for (const [name, h] of [...dirs].sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0))) {
    const path = fsPath(root, name);
    if (!lst(path)?.isDirectory()) continue;
    if (owners) lchownSync(path, h.uid, h.gid);
    chmodSync(path, h.mode);
    lutimesSync(path, h.mtime, h.mtime);
  }
  return { members: pl.members, whiteouts: pl.whiteouts.length + pl.opaque.length };
}
