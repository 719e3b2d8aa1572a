/**
 * Walk the rootfs (and the --initrd-extra trees laid over it) into the list of archive entries.
 * Only metadata is held in memory (one small record per entry); file data is read later, in
 * chunks, by stream.ts.
 *
 * Names are kept as latin1 strings: one char per byte, so any byte sequence a filesystem allows
 * survives unchanged, and comparing two names with `<` is a bytewise comparison.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { OWNER_MARKER } from '../lib/atomic.js';
import type { TreePrint } from '../lib/tree-fingerprint.js';
import { OsbError } from '../lib/errors.js';
import { byCodePoint } from '../lib/order.js';
import { MAX_FIELD, PATH_MAX, checkNameLength, displayName } from './newc.js';

export type EntryKind = 'dir' | 'file' | 'symlink' | 'special';

/** One entry of the archive, before inode numbers are assigned. */
export interface ArchiveEntry {
  /** Archive name as a latin1 (byte) string: `.` for the root, else `usr/bin/env` (no `./`). */
  readonly name: string;
  readonly kind: EntryKind;
  /** st_mode: file type and permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds, already clamped to SOURCE_DATE_EPOCH. */
  readonly mtime: number;
  /** Bytes of data: file size, or the symlink target's length. */
  readonly size: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  /** `dev:ino` of a non-directory, non-symlink inode with other names: groups hard links. */
  readonly linkKey?: string;
  /** Where the data is read from (regular files): a string when every byte of it is ASCII. */
  readonly path?: Buffer | string;
  /** Symlink target bytes. */
  readonly target?: Buffer;
}

export interface ScanOptions {
  readonly sourceDateEpoch: number;
  /** Called for things worth a warning that do not stop the build (mount points skipped). */
  readonly warn: (message: string) => void;
  readonly signal?: AbortSignal;
  /** Every entry below the top also goes into this fingerprint (lib/tree-fingerprint.ts): what the engine records of the tree, without a walk of its own. */
  readonly print?: TreePrint;
}

/** latin1 string <-> bytes, lossless in both directions. */
export const nameBytes = (name: string): Buffer => Buffer.from(name, 'latin1');

const kindOf = (st: Stats): EntryKind =>
  st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'special';

/** Linux's dev_t encoding (glibc gnu_dev_major/minor), exact on 64-bit values. */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n)),
  };
}

function fsError(e: unknown, abs: Buffer | string): OsbError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENAMETOOLONG') {
    return new OsbError(`path too long to read (over PATH_MAX): ${displayName(abs, 120)}`, 'shorten or remove that path in the rootfs');
  }
  return new OsbError(`cannot read ${displayName(abs)}: ${code ?? (e as Error).message}`, 'check that the rootfs is complete and readable (osb initrd runs as root for a root-owned rootfs)');
}

/**
 * One entry from a plain lstat: numbers hold every field exactly but inode and device numbers,
 * which can pass 2^53, so those two are read again as bigints where they matter (the rare hard
 * link and device node). A bigint lstat of every entry cost more than the rest of the scan.
 */
function entryFor(name: string, abs: Buffer | string, st: Stats, o: ScanOptions): ArchiveEntry {
  const kind = kindOf(st);
  // min(mtime, SOURCE_DATE_EPOCH); times before 1970 become 0 (newc fields are unsigned).
  const secs = Math.floor(st.mtimeMs / 1000);
  const mtime = secs < 0 ? 0 : Math.min(secs, o.sourceDateEpoch);
  const exact = () => lstatSync(abs, { bigint: true });
  const { major, minor } = kind === 'special' ? splitDev(exact().rdev) : { major: 0, minor: 0 };
  let size = 0;
  let target: Buffer | undefined;
  if (kind === 'symlink') {
    target = readlinkSync(abs, { encoding: 'buffer' }) as Buffer;
    size = target.length;
  } else if (kind === 'file') {
    if (st.size > MAX_FIELD) {
      throw new OsbError(`${displayName(abs)} is ${st.size} bytes; a cpio newc archive holds files up to 4 GiB - 1`, 'remove the file from the rootfs or ship it on a disk image instead');
    }
    size = st.size;
  }
  // Symlinks are never grouped: the kernel does not hard-link them, it needs each one's target.
  const linkKey = kind !== 'dir' && kind !== 'symlink' && st.nlink > 1 ? (({ dev, ino }) => `${dev}:${ino}`)(exact()) : undefined;
  return {
    name, kind, size, target, linkKey, mtime,
    mode: st.mode, uid: st.uid, gid: st.gid,
    rdevMajor: major, rdevMinor: minor,
    path: kind === 'file' ? abs : undefined,
  };
}

/** Describe a kind for conflict messages. */
const kindWord = (k: EntryKind) => ({ dir: 'a directory', file: 'a file', symlink: 'a symlink', special: 'a special file' })[k];

/**
 * Add every entry of the tree at `root` to `into`, keyed by name. Entries already there (from
 * an earlier tree) are replaced, except the root. A directory and a non-directory never replace
 * each other: that would silently drop or orphan a subtree (e.g. a `lib/` over a usr-merged `lib`
 * symlink), so it is an error naming the path.
 */
export function scanTree(root: string, into: Map<string, ArchiveEntry>, o: ScanOptions, label = root): void {
  const rootPath = root.replace(/\/+$/, '') || '/';
  const lstatOrThrow = (abs: Buffer | string) => {
    try {
      return lstatSync(abs);
    } catch (e) {
      throw fsError(e, abs);
    }
  };
  const rootSt = lstatOrThrow(rootPath);
  if (!rootSt.isDirectory()) throw new OsbError(`${root} is not a directory`, 'point it at a rootfs directory');
  // An overlay's own top directory (often a 0700 mkdtemp) must not change the guest's `/`.
  if (!into.has('.')) add(into, entryFor('.', rootPath, rootSt, o), label);

  // Paths are strings while they are ASCII (the rule, and half the garbage of bytes); a name
  // with any other byte makes its path, and those under it, bytes.
  const stack: { name: string; abs: Buffer | string }[] = [{ name: '.', abs: rootPath }];
  while (stack.length > 0) {
    if (o.signal?.aborted) throw o.signal.reason;
    const { name: dir, abs: dirAbs } = stack.pop()!;
    // latin1: one char per byte, so every name survives, with no Buffer per name.
    let names: string[];
    try {
      names = readdirSync(dirAbs, { encoding: 'latin1' });
    } catch (e) {
      throw fsError(e, dirAbs);
    }
    for (const child of names) {
      // osb's ownership marker is bookkeeping for the build host, not part of the guest.
      if (dir === '.' && child === OWNER_MARKER) continue;
      const name = dir === '.' ? child : `${dir}/${child}`;
      // A latin1 string has one char per byte.
      if (name.length + 1 > PATH_MAX) checkNameLength(nameBytes(name));
      const abs = typeof dirAbs === 'string' && ASCII.test(child) ? `${dirAbs}/${child}` : Buffer.concat([typeof dirAbs === 'string' ? Buffer.from(dirAbs) : dirAbs, SLASH, nameBytes(child)]);
      const st = lstatOrThrow(abs);
      o.print?.add(name, st);
      add(into, entryFor(name, abs, st, o), label);
      if (!st.isDirectory()) continue;
      // Like `find -xdev`: a mounted /proc or /sys inside a rootfs being built must not be archived.
      if (st.dev !== rootSt.dev) o.warn(`${label}/${displayName(nameBytes(child))} is a mount point; its contents are not archived`);
      else stack.push({ name, abs });
    }
  }
}

const ASCII = /^[\x01-\x7f]*$/;
const SLASH = Buffer.from('/');

function add(into: Map<string, ArchiveEntry>, e: ArchiveEntry, label: string): void {
  const old = into.get(e.name);
  if (old && (old.kind === 'dir') !== (e.kind === 'dir')) {
    throw new OsbError(
      `${label} has ${kindWord(e.kind)} at /${displayName(nameBytes(e.name))} where the rootfs has ${kindWord(old.kind)}${old.target ? ` (-> ${displayName(old.target)})` : ''}`,
      old.kind === 'symlink' ? `put those files under the symlink's target in ${label}` : `make /${displayName(nameBytes(e.name))} the same kind in both trees`,
    );
  }
  into.set(e.name, e);
}

/**
 * Archive order: the root first, then every name bytewise (so a parent, being a prefix of its
 * children's names, always comes before them, and `find | LC_ALL=C sort` gives the same list).
 */
export function sortEntries(entries: Iterable<ArchiveEntry>): ArchiveEntry[] {
  return [...entries].sort((a, b) => (a.name === '.' ? -1 : b.name === '.' ? 1 : byCodePoint(a.name, b.name)));
}
