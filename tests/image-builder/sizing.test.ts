/**
 * The one-pass sizing: the disk layout arithmetic, the ext4 layout model checked against what
 * mke2fs itself makes, and the computed size both sufficient and tight for real trees.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, computeImageSize, scanTree, type ImageOptions, type PartitionTable, type SizingInput, type TreeStats } from '../../image-builder/index.js';
import { ext4Geometry, groupHasSuper } from '../../image-builder/ext4-sizing.js';
import { mkfsExt4Argv } from '../../image-builder/filesystems.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { MiB, makeCtx, options, removeTempDirs, sfdiskJson, sh, tempDir } from './helpers.js';

let dir: string;
let fixture: TreeStats;
let fixtureDir: string;
beforeAll(() => {
  dir = tempDir();
  fixtureDir = makeFixtureRootfs(join(dir, 'rootfs'));
  fixture = scanTree(fixtureDir);
});
afterAll(removeTempDirs);

const input = (o: Partial<SizingInput>): SizingInput => ({ fsType: 'ext4', blockSize: 4096, rootFreeSpaceMiB: 0, partitionTable: 'mbr', dax: false, tree: fixture, ...o });

describe('disk layout', () => {
  test.each([
    ['mbr', false],
    ['gpt', false],
    ['mbr', true],
    ['gpt', true],
  ] as Array<[PartitionTable, boolean]>)('%s, dax %s: partition aligned to 1 MiB, table space and header accounted', (table, dax) => {
    const { layout } = computeImageSize(input({ partitionTable: table, dax }));
    expect(layout.partitionOffset % MiB).toBe(0);
    expect(layout.partitionBytes % MiB).toBe(0);
    expect(layout.headerBytes).toBe(dax ? 2 * MiB : 0);
    expect(layout.partitionOffset).toBe(layout.headerBytes + MiB);
    const tail = layout.totalBytes - layout.partitionOffset - layout.partitionBytes;
    expect(tail).toBe(table === 'gpt' ? MiB : 0);
    if (dax) expect(layout.totalBytes % (2 * MiB)).toBe(0);
  });

  test('erofs: the partition is the built image rounded up to a MiB', () => {
    const { layout } = computeImageSize(input({ fsType: 'erofs', tree: undefined, erofsBytes: 5 * MiB + 4096 }));
    expect(layout.partitionBytes).toBe(6 * MiB);
    expect(layout.totalBytes).toBe(7 * MiB);
  });

  test('xfs: never below the 300 MB mkfs.xfs accepts', () => {
    expect(computeImageSize(input({ fsType: 'xfs' })).layout.partitionBytes).toBeGreaterThanOrEqual(300 * MiB);
  });

  test('free space asked for grows the image by about that much', () => {
    const base = computeImageSize(input({})).layout.partitionBytes;
    const more = computeImageSize(input({ rootFreeSpaceMiB: 64 })).layout.partitionBytes;
    expect(more - base).toBeGreaterThanOrEqual(62 * MiB);
    expect(more - base).toBeLessThanOrEqual(66 * MiB);
  });

  test('an explicit size is used as given, and refused below the size needed', () => {
    const { neededMiB } = computeImageSize(input({}));
    expect(computeImageSize(input({ imageSizeMiB: neededMiB + 10 })).layout.totalBytes).toBe((neededMiB + 10) * MiB);
    expect(() => computeImageSize(input({ imageSizeMiB: neededMiB - 1 }))).toThrow(`needs at least ${neededMiB} MiB`);
  });
});

describe('ext4 model against mke2fs', () => {
  test('sparse_super backup groups: 0, 1 and powers of 3, 5, 7', () => {
    const groups = Array.from({ length: 400 }, (_, g) => g).filter(groupHasSuper);
    expect(groups).toEqual([0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125, 243, 343]);
  });

  test('a filesystem too small for the minimum journal is refused by the model as by mke2fs', () => {
    expect(ext4Geometry(2048, 4096, 256)).toBeUndefined();
    const img = join(dir, 'too-small.img');
    sh(['truncate', '-s', String(8 * MiB), img]);
    const argv = mkfsExt4Argv({ imagePath: img, offset: 0, fsBytes: 8 * MiB, blockSize: 4096, inodes: 256, rootfsDir: join(dir, 'rootfs'), uuid: '11111111-2222-8333-8444-555555555555', hashSeed: '11111111-2222-8333-8444-555555555556' });
    expect(() => sh(argv)).toThrow(/journal size too big/i);
  });

  // Sizes that cross one group, several groups, a dropped last group and the journal size step.
  // One group, several groups, the journal size step above 1 GiB, and a last group mke2fs drops.
  test.each([
    [4096, 9, 263],
    [4096, 300, 2300],
    [4096, 1100, 7900],
    [4096, 129, 20000],
    [2048, 97, 879],
    [1024, 8, 256],
    [1024, 65, 655],
  ])('block size %i, %i MiB, %i inodes: free blocks and inode count are exactly what mke2fs makes', (bs, mib, inodes) => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    const img = join(dir, `model-${bs}-${mib}.img`);
    writeFileSync(img, '');
    sh(['truncate', '-s', String(mib * MiB), img]);
    const argv = mkfsExt4Argv({ imagePath: img, offset: 0, fsBytes: mib * MiB, blockSize: bs, inodes, rootfsDir: empty, uuid: '11111111-2222-8333-8444-555555555555', hashSeed: '11111111-2222-8333-8444-555555555556' });
    sh(argv);
    const h = sh(['dumpe2fs', '-h', img]);
    const num = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+)`, 'm').exec(h)![1]);
    const g = ext4Geometry(mib * MiB / bs, bs, inodes)!;
    const lostFound = Math.min(12, Math.max(2, Math.ceil(16384 / bs)));
    expect(num('Block count')).toBe(g.blocks);
    expect(num('Inode count')).toBe(g.inodeCount);
    expect(num('Free blocks')).toBe(g.availableBlocks - 1 - lostFound); // root directory + lost+found
  });
});

describe('computed sizes are enough and tight', () => {
  let bulky: string;
  beforeAll(() => {
    // Enough data (incompressible, in files of many sizes) that the journal minimum does not decide the size.
    bulky = makeFixtureRootfs(join(dir, 'rootfs-bulky'));
    mkdirSync(join(bulky, 'opt/data'), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(join(bulky, 'opt/data', `f${i}`), randomBytes((i * 7919) % 200_000));
  });

  const build = async (tag: string, o: Partial<ImageOptions>) => {
    const out = join(dir, `tight-${tag}`);
    mkdirSync(out);
    const image = join(out, 'osb.img');
    const r = await buildImage(makeCtx(out), options(bulky, image, o));
    expect(sfdiskJson(image).partitions[0]!.start * 512).toBe(r.partitionOffset);
    return { image, r };
  };
  const ext4Free = (image: string, offset: number) => {
    const h = sh(['dumpe2fs', '-h', `${image}?offset=${offset}`]);
    return Number(/^Free blocks:\s+(\d+)/m.exec(h)![1]) * Number(/^Block size:\s+(\d+)/m.exec(h)![1]);
  };

  test.each([1024, 2048, 4096])('ext4, block size %i: what is left free is under the margin plus a MiB of rounding', async (bs) => {
    const { image, r } = await build(`ext4-${bs}`, { blockSize: bs });
    expect(ext4Free(image, r.partitionOffset)).toBeLessThan(MiB + 0.01 * r.sizeBytes + 16 * bs);
  }, 60_000);

  test('ext4 with 64 MiB of free space asked for: at least that much is free, and not 2 MiB more', async () => {
    const { image, r } = await build('ext4-free', { rootFreeSpaceMiB: 64 });
    const free = ext4Free(image, r.partitionOffset);
    expect(free).toBeGreaterThanOrEqual(64 * MiB);
    expect(free).toBeLessThan(66 * MiB + 0.01 * r.sizeBytes);
  }, 60_000);

  test('erofs: the partition is the filesystem rounded up to a MiB', async () => {
    const out = join(dir, 'tight-erofs');
    mkdirSync(out);
    const image = join(out, 'osb.img');
    const r = await buildImage(makeCtx(out), options(fixtureDir, image, { fsType: 'erofs' }));
    const part = sfdiskJson(image).partitions[0]!.size * 512;
    const fs = readFileSync(image).subarray(r.partitionOffset, r.partitionOffset + 2048);
    const fsBytes = fs.readUInt32LE(1024 + 36) * 4096; // erofs_super_block.blocks
    expect(part - fsBytes).toBeGreaterThanOrEqual(0);
    expect(part - fsBytes).toBeLessThan(MiB);
  }, 60_000);

  (process.getuid?.() === 0 ? test : test.skip)('xfs: the 300 MB minimum of mkfs.xfs', async () => {
    const { image } = await build('xfs', { fsType: 'xfs' });
    expect(sfdiskJson(image).partitions[0]!.size * 512).toBe(300 * MiB);
  }, 60_000);
});

describe('the tree scan', () => {
  test('a name that is not UTF-8 is measured in bytes and named exactly; the image of it holds it (e2fsck clean, debugfs lists it)', async () => {
    const root = join(dir, 'latin1-tree');
    mkdirSync(join(root, 'sbin'), { recursive: true });
    writeFileSync(join(root, 'sbin', 'init'), '#!/bin/sh\n');
    const name = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.alloc(200, 0x78)]); // 'caf\xe9' + 200 x: 204 bytes
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), name]), Buffer.alloc(5000, 1));
    const stats = scanTree(root);
    expect(stats.longestName.bytes).toBe(204);
    expect(stats.largestFile.bytes).toBe(5000);
    expect(stats.directories.flat().sort((a, b) => a - b)).toEqual([4, 4, 204]);
    const out = join(dir, 'latin1-image');
    mkdirSync(out);
    const image = join(out, 'osb.img');
    const r = await buildImage(makeCtx(out), options(root, image, {}));
    sh(['e2fsck', '-f', '-n', `${image}?offset=${r.partitionOffset}`]);
    const listing = execFileSync('debugfs', ['-R', 'ls -p /', `${image}?offset=${r.partitionOffset}`], { stdio: ['ignore', 'pipe', 'ignore'] });
    expect(listing.includes(name)).toBe(true);
  }, 60_000);
});
