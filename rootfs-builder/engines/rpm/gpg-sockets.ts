/**
 * dnf verifies signatures through gpgme, which runs gpg with throw-away homes (in TMPDIR) and one
 * home per repository (in its cache). For a home other than ~/.gnupg, gpg puts the agent's
 * sockets in /run/user/UID/gnupg/d.<hash of the home's path> on the host, and leaves that
 * directory behind. osb records the homes dnf creates and removes their socket directories.
 */
import { createHash } from 'node:crypto';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

const ZB32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 of the first `bits` bits of `data` (GnuPG's zb32_encode). */
export function zb32(data: Buffer, bits: number): string {
  let out = '';
  for (let bit = 0; bit < bits; bit += 5) {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const b = bit + i;
      v = (v << 1) | (b < bits ? (data[b >> 3]! >> (7 - (b & 7))) & 1 : 0);
    }
    out += ZB32[v];
  }
  return out;
}

/** Where gpg puts the sockets of `home` (GnuPG's _gnupg_socketdir_internal, with /run/user/UID present). */
export function gpgSocketDir(home: string, uid = process.getuid?.() ?? 0): string {
  return join(`/run/user/${uid}/gnupg`, `d.${zb32(createHash('sha1').update(home).digest(), 120)}`);
}

/**
 * Record the throw-away homes created in `dir` while a tool runs. dnf's are librepo's
 * tmpdir.XXXXXX and Python's tmpXXXXXXXX in TMPDIR (which osb leaves alone: rpm would pass it on
 * to scriptlets chrooted into the tree, where it does not exist); zypper's are under its own
 * ZYPPTMPDIR, which osb points at a directory of its own and watches whole (`all`). Best effort:
 * a home made and removed faster than the watch can follow keeps its (empty) socket directory.
 */
export function watchHomes(dir: string, all = false): { stop: () => Promise<string[]> } {
  const seen = new Set<string>();
  let w: FSWatcher | undefined;
  try {
    w = watch(dir, { recursive: all }, (_event, name) => {
      const n = name?.toString();
      if (n && (all || /^(tmpdir\.[A-Za-z0-9]{6}|tmp[a-z0-9_]{8})$/.test(n))) seen.add(join(dir, n));
    });
    // A directory that vanishes while the recursive watch scans it is no error of the build's.
    w.on('error', () => undefined);
  } catch {
    // no inotify: nothing recorded, nothing removed
  }
  return {
    stop: async () => {
      await new Promise((ok) => setImmediate(ok)); // deliver the events already queued
      w?.close();
      return [...seen];
    },
  };
}

/**
 * Remove the socket directories of `homes`. A throw-away home that still exists may belong to
 * another program that happened to use the same TMPDIR: its sockets stay.
 */
export async function removeSocketDirs(homes: readonly string[], stopped: readonly string[]): Promise<void> {
  for (const h of [...stopped, ...homes.filter((x) => !existsSync(x))]) {
    const d = gpgSocketDir(h);
    if (existsSync(d)) await rm(d, { recursive: true, force: true });
  }
}
