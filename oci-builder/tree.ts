/**
 * Walk a tree into the list of tar entries: lstat only (nothing is followed), sorted bytewise,
 * mtimes clamped to SOURCE_DATE_EPOCH, numeric owners, hard links grouped.
 *
 * initrd-builder/scan.ts walks a tree the same way, but builders do not import each other, and
 * its entries carry cpio's limits (4 GiB files, newc name lengths) that a tar layer does not have.
 * Names are latin1 strings (one char per byte) so any byte sequence survives and `<` compares
 * bytes.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { OWNER_MARKER } from '../lib/atomic.js';
import { OsbError } from '../lib/errors.js';
import { byCodePoint } from '../lib/order.js';

export type TarKind = 'dir' | 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** Name as a latin1 (byte) string, relative, without `./`; directories without a trailing `/`. */
  readonly name: string;
  kind: TarKind;
  /** Permission bits, suid/sgid/sticky included (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds, clamped to SOURCE_DATE_EPOCH. */
  readonly mtime: number;
  /** Bytes of file data (0 for every other kind, and for a hard link). */
  size: number;
  readonly devMajor: number;
  readonly devMinor: number;
  /** Where a regular file's data is read from. */
  readonly path?: Buffer;
  /** Symlink target bytes. */
  readonly target?: Buffer;
  /** For a hard link: the name of the entry written first with the same inode. */
  linkTo?: string;
  /** Extended attributes (name -> value bytes), written as PAX SCHILY.xattr.* records. */
  xattrs?: ReadonlyMap<string, Buffer>;
  /** `dev:ino` of an inode with several names. */
  readonly inode?: string;
}

export interface WalkOptions {
  readonly sourceDateEpoch: number;
  readonly warn: (message: string) => void;
  readonly signal?: AbortSignal;
}

/** Linux's dev_t encoding (glibc gnu_dev_major/minor). */
function splitDev(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n)),
  };
}

const show = (b: Buffer) => b.toString('utf8');

function kindOf(st: BigIntStats): TarKind | undefined {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined; // a socket: tar has no type for it (GNU tar skips them too)
}

function lstatOrThrow(abs: Buffer): BigIntStats {
  try {
    return lstatSync(abs, { bigint: true });
  } catch (e) {
    throw new OsbError(`cannot read ${show(abs)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'check that the rootfs is complete and readable (run osb as root for a root-owned rootfs)');
  }
}

/**
 * Every entry under `root` (the root itself not included), sorted bytewise by name, so a parent
 * comes before its children and the first name of a hard-linked inode carries the data.
 */
export function walkTree(root: string, o: WalkOptions): TarEntry[] {
  const rootBytes = Buffer.from(root.replace(/\/+$/, '') || '/');
  const rootSt = lstatOrThrow(rootBytes);
  if (!rootSt.isDirectory()) throw new OsbError(`${root} is not a directory`, 'point it at a rootfs directory');
  const sde = BigInt(o.sourceDateEpoch);
  const out: TarEntry[] = [];
  const stack: string[] = [''];
  while (stack.length > 0) {
    if (o.signal?.aborted) throw o.signal.reason;
    const dir = stack.pop()!;
    const dirAbs = dir === '' ? rootBytes : Buffer.concat([rootBytes, Buffer.from('/'), Buffer.from(dir, 'latin1')]);
    let names: Buffer[];
    try {
      names = readdirSync(dirAbs, { encoding: 'buffer' });
    } catch (e) {
      throw new OsbError(`cannot list ${show(dirAbs)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'check that the rootfs is readable (run osb as root for a root-owned rootfs)');
    }
    for (const nb of names) {
      const child = nb.toString('latin1');
      if (dir === '' && child === OWNER_MARKER) continue; // osb's bookkeeping, not the guest's
      const name = dir === '' ? child : `${dir}/${child}`;
      const abs = Buffer.concat([dirAbs, Buffer.from('/'), nb]);
      const st = lstatOrThrow(abs);
      const kind = kindOf(st);
      if (!kind) {
        o.warn(`${show(abs)} is a socket; a tar layer cannot hold sockets, so it is left out`);
        continue;
      }
      const secs = st.mtimeMs / 1000n;
      const mtime = Number(secs < 0n ? 0n : secs > sde ? sde : secs);
      const dev = kind === 'char' || kind === 'block' ? splitDev(st.rdev) : { major: 0, minor: 0 };
      out.push({
        name,
        kind,
        mode: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtime,
        size: kind === 'file' ? Number(st.size) : 0,
        devMajor: dev.major,
        devMinor: dev.minor,
        path: kind === 'file' ? abs : undefined,
        target: kind === 'symlink' ? readlinkSync(abs, { encoding: 'buffer' }) : undefined,
        inode: kind !== 'dir' && kind !== 'symlink' && st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined,
      });
      if (kind !== 'dir') continue;
      // Like `tar --one-file-system`: a /proc mounted inside a rootfs is not archived.
      if (st.dev !== rootSt.dev) o.warn(`${show(abs)} is a mount point; its contents are left out`);
      else stack.push(name);
    }
  }
  out.sort((a, b) => byCodePoint(a.name, b.name));
  const first = new Map<string, string>();
  for (const e of out) {
    if (!e.inode) continue;
    const seen = first.get(e.inode);
    if (seen === undefined) first.set(e.inode, e.name);
    else {
      e.kind = 'hardlink';
      e.linkTo = seen;
      e.size = 0;
    }
  }
  return out;
}
