/**
 * Turn sorted entries into headers: renumber inodes, count links, decide which hard link carries
 * the data, apply the owner override. Pure: same entries in, same headers out, whatever the host's
 * inode numbers were, so a `cp -a` copy of a rootfs gives the same archive.
 */
import type { NewcHeader } from './newc.js';
import type { ArchiveEntry } from './scan.js';

/** A header plus where its data comes from. */
export interface PlannedEntry {
  readonly header: NewcHeader;
  readonly entry: ArchiveEntry;
}

export interface PlanOptions {
  /** Force every entry to this owner (--owner 0:0). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

const parentOf = (name: string): string => {
  const i = name.lastIndexOf('/');
  return i < 0 ? '.' : name.slice(0, i);
};

/**
 * Headers for `sorted` (root first, bytewise order).
 *
 * Inode numbers come from a counter keyed by the source's (dev, ino), so hard links share one.
 * Within a hard-link group only the LAST name carries the data and the earlier ones have size 0:
 * that is what GNU cpio writes, what GNU cpio's reader expects (it defers the empty names and links
 * them once the data arrives), and what the kernel handles (init/initramfs.c: the first name
 * creates the file, later names are linked to it and their data written without O_TRUNC).
 *
 * nlink is counted inside the archive (names in the group; 2 + subdirectories for a directory)
 * rather than copied from the host, where it depends on links outside the tree and on the
 * filesystem (btrfs reports 1 for every directory).
 */
export function planEntries(sorted: readonly ArchiveEntry[], o: PlanOptions = {}): PlannedEntry[] {
  const subdirs = new Map<string, number>();
  const groupSize = new Map<string, number>();
  for (const e of sorted) {
    if (e.kind === 'dir' && e.name !== '.') subdirs.set(parentOf(e.name), (subdirs.get(parentOf(e.name)) ?? 0) + 1);
    if (e.linkKey) groupSize.set(e.linkKey, (groupSize.get(e.linkKey) ?? 0) + 1);
  }
  const inoOf = new Map<string, number>();
  const seen = new Map<string, number>();
  let nextIno = 1;
  return sorted.map((e) => {
    let ino: number;
    let nlink = 1;
    let filesize = e.size;
    if (e.linkKey) {
      ino = inoOf.get(e.linkKey) ?? nextIno++;
      inoOf.set(e.linkKey, ino);
      nlink = groupSize.get(e.linkKey)!;
      const n = (seen.get(e.linkKey) ?? 0) + 1;
      seen.set(e.linkKey, n);
      if (n < nlink) filesize = 0;
    } else {
      ino = nextIno++;
      if (e.kind === 'dir') nlink = 2 + (subdirs.get(e.name) ?? 0);
    }
    const header: NewcHeader = {
      ino,
      mode: e.mode,
      uid: o.owner?.uid ?? e.uid,
      gid: o.owner?.gid ?? e.gid,
      nlink,
      mtime: e.mtime,
      filesize,
      rdevMajor: e.rdevMajor,
      rdevMinor: e.rdevMinor,
      name: e.name,
    };
    return { header, entry: e };
  });
}
