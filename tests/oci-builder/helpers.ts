/**
 * Shared by the oci-builder tests: a rootfs holding every kind of entry a layer must carry, and a
 * snapshot of a tree (what a user sees of it) to compare an unpacked image with its source.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { makeTestContext, type TestContextOptions } from '../helpers/build-context.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

export function makeCtx(workdir: string, o: TestContextOptions = {}): BuildContext {
  return makeTestContext(workdir, 'oci', o);
}

/** A 150-character path (two directories and a file), longer than ustar's 100-byte name field. */
export const LONG_PATH = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(28)}`;

/**
 * The fixture rootfs (busybox, agent as /sbin/init, a hard link, a suid file, /dev nodes and a
 * fifo) plus a fifo owned by 1000:1000, a sticky dir, a 150-character path and a binary with file
 * capabilities (cap_setuid's bit makes a 0x80 byte in the xattr value).
 */
export function makeRichRootfs(dir: string): string {
  makeFixtureRootfs(dir, { specials: true });
  chownSync(join(dir, 'var/lib/data/fifo'), 1000, 1000);
  mkdirSync(join(dir, 'var/tmp'), { mode: 0o1777 });
  chmodSync(join(dir, 'var/tmp'), 0o1777);
  mkdirSync(join(dir, LONG_PATH, '..'), { recursive: true });
  writeFileSync(join(dir, LONG_PATH), 'at the end of a long path\n');
  copyFileSync('/bin/true', join(dir, 'usr/bin/pinger'));
  execFileSync('setcap', ['cap_setuid,cap_net_raw+ep', join(dir, 'usr/bin/pinger')]);
  writeFileSync(join(dir, 'etc/owned-by-42'), 'x\n');
  chownSync(join(dir, 'etc/owned-by-42'), 42, 4242);
  return dir;
}

/**
 * One line per path: type+mode, owner, then content hash, link target or device. Paths are
 * bytes (latin1 keys), so names that are not UTF-8 are compared too.
 */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: Buffer | undefined) => {
    const abs = rel ? Buffer.concat([Buffer.from(`${root}/`), rel]) : Buffer.from(root);
    const st = lstatSync(abs);
    if (rel) {
      let what = '';
      if (st.isSymbolicLink()) what = `-> ${readlinkSync(abs, { encoding: 'buffer' }).toString('latin1')}`;
      else if (st.isFile()) what = `sha256 ${createHash('sha256').update(readFileSync(abs)).digest('hex')} nlink ${st.nlink}`;
      else if (st.isCharacterDevice() || st.isBlockDevice()) what = `dev ${st.rdev}`;
      out.set(rel.toString('latin1'), `${st.mode.toString(8)} ${st.uid}:${st.gid} ${what}`);
    }
    if (!st.isDirectory()) return;
    const names = readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const n of names) walk(rel ? Buffer.concat([rel, Buffer.from('/'), n]) : n);
  };
  walk(undefined);
  return out;
}

/** `getfattr` of every file with xattrs under `root`, by relative path (the oracle for capabilities). */
export function xattrDump(root: string): string {
  const out = execFileSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: root, encoding: 'utf8' });
  return out.trim();
}

/** Inode numbers of `names` under `root` (hard links share one). */
export const inodes = (root: string, ...names: string[]) => names.map((n) => lstatSync(join(root, n)).ino);

/** A layout's index, manifest and config, parsed. */
export function readLayout(layout: string): { index: any; manifest: any; config: any; blob: (digest: string) => string } {
  const blob = (d: string) => join(layout, 'blobs', 'sha256', d.replace(/^sha256:/, ''));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
  return { index, manifest, config, blob };
}
