/**
 * Same rootfs, same seed, same SOURCE_DATE_EPOCH → the same bytes (ext4 and erofs), even after
 * the rootfs was read (atime) or its inodes touched (ctime); identifiers follow the seed.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type FsType, type ImageOptions } from '../../image-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { MiB, extractPartition, makeCtx, options, removeTempDirs, sfdiskJson, sh, sha256, tempDir } from './helpers.js';

let dir: string;
let rootfs: string;
let n = 0;
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

async function build(o: Partial<ImageOptions>, tree = rootfs): Promise<{ path: string; fsUuid: string }> {
  const out = join(dir, `out${n++}`);
  mkdirSync(out);
  return buildImage(makeCtx(out), options(tree, join(out, 'osb.img'), o));
}

/** Read every regular file (updates atimes) and chmod one file to and fro (updates its ctime). */
function disturb(tree: string): void {
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) readFileSync(p);
    }
  };
  walk(tree);
  const f = join(tree, 'etc/hostname');
  const mode = statSync(f).mode & 0o7777;
  chmodSync(f, 0o600);
  chmodSync(f, mode);
}

describe.each(['ext4', 'erofs'] as FsType[])('%s', (fsType) => {
  test('two builds of the same rootfs are identical, DAX and GPT included', async () => {
    const a = await build({ fsType, dax: true, partitionTable: 'gpt' });
    await new Promise((r) => setTimeout(r, 1100)); // a clock that leaks into the image would now differ
    disturb(rootfs);
    const b = await build({ fsType, dax: true, partitionTable: 'gpt' });
    expect(sha256(b.path)).toBe(sha256(a.path));
  }, 60_000);

  test('another seed gives other identifiers and other bytes', async () => {
    const a = await build({ fsType, partitionTable: 'gpt', seed: 'aaaa' });
    const b = await build({ fsType, partitionTable: 'gpt', seed: 'bbbb' });
    expect(b.fsUuid).not.toBe(a.fsUuid);
    const [ta, tb] = [sfdiskJson(a.path), sfdiskJson(b.path)];
    expect(tb.id).not.toBe(ta.id);
    expect(tb.partitions[0]!.uuid).not.toBe(ta.partitions[0]!.uuid);
    expect(sha256(b.path)).not.toBe(sha256(a.path));
    // The filesystem carries the UUID buildImage reports.
    const sb = fsType === 'ext4' ? sh(['dumpe2fs', '-h', `${a.path}?offset=${MiB}`]) : sh(['dump.erofs', '-s', extractPartition(a.path, MiB, sfdiskJson(a.path).partitions[0]!.size * 512, `${a.path}.p1`)]);
    expect(sb).toContain(a.fsUuid);
  }, 60_000);
});

test('erofs: a copy of the rootfs (new inodes, new ctimes) gives the same image', async () => {
  const copy = join(dir, 'rootfs-copy');
  sh(['cp', '-a', rootfs, copy]);
  const a = await build({ fsType: 'erofs' });
  const b = await build({ fsType: 'erofs' }, copy);
  expect(sha256(b.path)).toBe(sha256(a.path));
}, 60_000);

test('ext4 timestamps: atime and ctime are SOURCE_DATE_EPOCH, mtimes are clamped to it', async () => {
  const a = await build({ fsType: 'ext4' });
  const stat = sh(['debugfs', '-R', 'stat /var/lib/data/hello.txt', `${a.path}?offset=${MiB}`]);
  const field = (f: string) => parseInt(new RegExp(`(?:^|\\s)${f}: 0x([0-9a-f]+)`, 'm').exec(stat)![1]!, 16);
  // The fixture was written just now, after SOURCE_DATE_EPOCH (2023-11-14).
  expect(field('ctime')).toBe(1_700_000_000);
  expect(field('atime')).toBe(1_700_000_000);
  expect(field('mtime')).toBe(1_700_000_000);
  expect(field('crtime')).toBe(1_700_000_000);
}, 60_000);
