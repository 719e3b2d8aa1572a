/**
 * Shared by the image-builder tests: a BuildContext on real tools, temp dirs, and readers that
 * look into a built image with independent tools (sfdisk, parted, debugfs, dump.erofs, xfs_db),
 * sharing no code with image-builder/.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { leftovers, makeTestContext, recordingReporter, removeTempDirs, SDE, tempDir as sharedTempDir, type TestContextOptions } from '../helpers/build-context.js';
import type { ImageOptions } from '../../image-builder/index.js';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';

export const MiB = 1024 * 1024;

export function makeCtx(workdir: string, o: TestContextOptions = {}): BuildContext {
  return makeTestContext(workdir, 'image', o);
}

/** ImageOptions with osb's defaults; tests override what they exercise. */
export function options(rootfsDir: string, output: string, o: Partial<ImageOptions> = {}): ImageOptions {
  return { rootfsDir, output, fsType: 'ext4', blockSize: 4096, rootFreeSpaceMiB: 0, partitionTable: 'mbr', dax: false, format: 'raw', seed: 'c0ffee', ...o };
}

export function sh(argv: readonly string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, maxBuffer: 1 << 26, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Loop devices attached right now (`losetup -a` lines). */
export function loopDevices(): string[] {
  return sh(['losetup', '-a']).split('\n').filter(Boolean).sort();
}

export interface SfdiskPartition {
  start: number;
  size: number;
  type: string;
  uuid?: string;
}
export function sfdiskJson(path: string): { label: string; id: string; partitions: SfdiskPartition[] } {
  return JSON.parse(sh(['sfdisk', '--json', path])).partitiontable;
}

/** `parted -m` partition lines in bytes: [number, start, end, size, fs]. */
export function partedPartitions(path: string): Array<{ number: number; start: number; end: number; size: number; fs: string }> {
  const lines = sh(['parted', '-m', '-s', path, 'unit', 'B', 'print']).trim().split('\n').slice(2);
  return lines.map((l) => {
    const [n, s, e, z, fs] = l.replace(/;$/, '').split(':');
    return { number: Number(n), start: parseInt(s!, 10), end: parseInt(e!, 10), size: parseInt(z!, 10), fs: fs ?? '' };
  });
}

/** Copy the partition's bytes out of an image into a file of its own (for tools without an offset option). */
export function extractPartition(image: string, offset: number, size: number, dest: string): string {
  sh(['dd', `if=${image}`, `of=${dest}`, 'bs=1M', `skip=${offset / MiB}`, `count=${size / MiB}`, 'conv=sparse', 'status=none']);
  return dest;
}

/** `debugfs -R 'stat PATH'` on the ext4 at `offset`: type, mode, links, size. */
export function ext4Stat(image: string, offset: number, path: string): { type: string; mode: number; links: number; size: number; raw: string } | undefined {
  const out = sh(['debugfs', '-R', `stat "${path}"`, `${image}?offset=${offset}`]);
  const m = /Type:\s+(.+?)\s+Mode:\s+(\d+)/.exec(out);
  if (!m) return undefined;
  return { type: m[1]!, mode: parseInt(m[2]!, 8), links: Number(/Links:\s+(\d+)/.exec(out)![1]), size: Number(/Size:\s+(\d+)/.exec(out)![1]), raw: out };
}

export function ext4Cat(image: string, offset: number, path: string): string {
  return sh(['debugfs', '-R', `cat "${path}"`, `${image}?offset=${offset}`]);
}

/** `dump.erofs --path` on an erofs file: type, mode, links, size. */
export function erofsStat(fsFile: string, path: string): { type: string; mode: number; links: number; size: number } {
  const out = sh(['dump.erofs', `--path=${path}`, fsFile]);
  return {
    type: /regular file/.test(out) ? 'regular' : /symlink/.test(out) ? 'symlink' : /directory/.test(out) ? 'directory' : /character/.test(out) ? 'character special' : /fifo/i.test(out) ? 'fifo' : 'other',
    mode: parseInt(/Access:\s+(\d+)\//.exec(out)![1]!, 8),
    links: Number(/Links:\s+(\d+)/.exec(out)![1]),
    size: Number(/Size:\s+(\d+)/.exec(out)![1]),
  };
}

/** `xfs_db -r` on an xfs file: mode (with type bits), links, size of `path`. */
export function xfsStat(fsFile: string, path: string): { mode: number; links: number; size: number } {
  const out = sh(['xfs_db', '-r', '-c', `path ${path}`, '-c', 'print core.mode core.nlinkv2 core.size', fsFile]);
  const field = (name: string) => new RegExp(`core\\.${name} = (\\S+)`).exec(out)![1]!;
  return { mode: parseInt(field('mode'), 8), links: Number(field('nlinkv2')), size: Number(field('size')) };
}

/** A file's bytes read from an xfs file through its block map (`xfs_db bmap`), no mount. */
export function xfsCat(fsFile: string, path: string): Buffer {
  const sb = sh(['xfs_db', '-r', '-c', 'sb 0', '-c', 'print agblocks blocksize', fsFile]);
  const agblocks = Number(/agblocks = (\d+)/.exec(sb)![1]);
  const bs = Number(/blocksize = (\d+)/.exec(sb)![1]);
  const { size } = xfsStat(fsFile, path);
  const map = sh(['xfs_db', '-r', '-c', `path ${path}`, '-c', 'bmap', fsFile]);
  const data = Buffer.alloc(Math.ceil(size / bs) * bs);
  const img = readFileSync(fsFile);
  for (const m of map.matchAll(/data offset (\d+) startblock \d+ \((\d+)\/(\d+)\) count (\d+)/g)) {
    const [logical, ag, agbno, count] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
    img.copy(data, logical * bs, (ag * agblocks + agbno) * bs, (ag * agblocks + agbno + count) * bs);
  }
  return data.subarray(0, size);
}

/**
 * i_mode of `path` in an erofs file, read from the on-disk inode (dump.erofs and fsck.erofs 1.5
 * drop the setuid/setgid bits when they print or extract): inode = meta_blkaddr * 4096 + nid * 32,
 * i_mode at +4 in both inode formats (erofs_fs.h).
 */
export function erofsMode(fsFile: string, path: string): number {
  const nid = Number(/NID:\s+(\d+)/.exec(sh(['dump.erofs', `--path=${path}`, fsFile]))![1]);
  const img = readFileSync(fsFile);
  const metaBlkAddr = img.readUInt32LE(1024 + 40);
  return img.readUInt16LE(metaBlkAddr * 4096 + nid * 32 + 4);
}

/**
 * image-builder/ and lib/ compiled to JavaScript, for tests that run a build in another process
 * (tests/image-builder/kill-driver.mjs). Inside the repository so lib/ finds node_modules.
 */
export function compiledImageBuilder(): string {
  const out = join(REPO_ROOT, 'node_modules', '.cache', 'osb-image-test');
  execFileSync('npx', ['tsc', '--outDir', out, '--rootDir', REPO_ROOT, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--strict', join(REPO_ROOT, 'image-builder/index.ts')], { cwd: REPO_ROOT, stdio: 'ignore' });
  return out;
}
export const KILL_DRIVER = join(REPO_ROOT, 'tests/image-builder/kill-driver.mjs');

export { recordingReporter, removeTempDirs, leftovers, SDE };
export function tempDir(tag = 'osb-image-test-'): string {
  return sharedTempDir(tag);
}
