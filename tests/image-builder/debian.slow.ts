/**
 * A real Debian bookworm minbase rootfs (merged /usr: /sbin is a symlink to usr/sbin) in every
 * filesystem and partition table, with the DAX header osb writes by default, checked with
 * independent tools; ext4 and erofs built twice must be byte-identical.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type FsType, type ImageResult, type PartitionTable } from '../../image-builder/index.js';
import { debianRootfs } from '../helpers/debian-rootfs.js';
import { isRoot } from '../helpers/fixture-rootfs.js';
import { MiB, erofsStat, ext4Stat, extractPartition, leftovers, loopDevices, makeCtx, options, partedPartitions, removeTempDirs, sfdiskJson, sh, sha256, tempDir, xfsCat, xfsStat } from './helpers.js';

/** What Kata's image_builder.sh makes of this rootfs (KATA-COMPAT.md). */
const KATA_IMAGE_BYTES = 256 * MiB;
let rootfs: string;
let dir: string;
let loopsBefore: string[];
beforeAll(() => {
  rootfs = debianRootfs();
  dir = tempDir();
  loopsBefore = loopDevices();
}, 300_000);
afterAll(removeTempDirs);

const cases: Array<[FsType, PartitionTable]> = [];
for (const fs of ['ext4', 'erofs', ...(isRoot ? ['xfs' as const] : [])] as FsType[]) for (const t of ['mbr', 'gpt'] as PartitionTable[]) cases.push([fs, t]);

describe.each(cases)('Debian minbase: %s on %s, DAX header', (fsType, table) => {
  let out: string;
  let image: string;
  let r: ImageResult;
  let part: string;
  beforeAll(async () => {
    out = join(dir, `${fsType}-${table}`);
    mkdirSync(out);
    image = join(out, 'osb.img');
    r = await buildImage(makeCtx(out), options(rootfs, image, { fsType, partitionTable: table, dax: true }));
    const inner = sfdiskJson(image).partitions[0]!;
    part = extractPartition(image, inner.start * 512, inner.size * 512, join(dir, `${fsType}-${table}.part`));
  }, 120_000);

  test('layout: the header MBR and parted agree on one partition at 3 MiB, 1 MiB aligned', () => {
    const size = statSync(image).size;
    expect(r.sizeBytes).toBe(size);
    expect(r.partitionOffset).toBe(3 * MiB);
    const p = sfdiskJson(image).partitions;
    expect(p).toHaveLength(1);
    expect(p[0]!.start * 512).toBe(3 * MiB);
    const parted = partedPartitions(image);
    expect(parted[0]!.start % MiB).toBe(0);
    const innerTable = sfdiskJson(extractPartition(image, 2 * MiB, size - 2 * MiB, join(dir, `${fsType}-${table}.inner`)));
    expect(innerTable.label).toBe(table === 'gpt' ? 'gpt' : 'dos');
    expect(innerTable.partitions[0]!.start * 512).toBe(MiB);
  });

  test('the checker is clean, the agent and other files are there with their bytes and links', () => {
    const agent = readFileSync(join(rootfs, 'usr/sbin/init'));
    const perl = readFileSync(join(rootfs, 'usr/bin/perl'));
    expect(statSync(join(rootfs, 'usr/bin/perl')).nlink).toBe(2);
    if (fsType === 'ext4') {
      sh(['e2fsck', '-f', '-n', part]);
      // debugfs resolves /sbin through the usr/sbin symlink as the kernel would.
      expect(ext4Stat(part, 0, '/sbin/init')).toMatchObject({ type: 'regular', mode: 0o755, size: agent.length });
      expect(ext4Stat(part, 0, '/usr/bin/perl')!.links).toBe(2);
      const dump = join(dir, `${table}-perl`);
      sh(['debugfs', '-R', `dump /usr/bin/perl5.36.0 ${dump}`, part]);
      expect(readFileSync(dump).equals(perl)).toBe(true);
    } else if (fsType === 'erofs') {
      sh(['fsck.erofs', '--extract', part]);
      expect(erofsStat(part, '/usr/sbin/init')).toMatchObject({ type: 'regular', mode: 0o755, size: agent.length });
      expect(erofsStat(part, '/usr/bin/perl').links).toBe(2);
      const x = join(dir, `${table}-extract`);
      sh(['fsck.erofs', `--extract=${x}`, part]);
      expect(readFileSync(join(x, 'usr/bin/perl5.36.0')).equals(perl)).toBe(true);
      expect(readFileSync(join(x, 'usr/sbin/init')).equals(agent)).toBe(true);
    } else {
      sh(['xfs_repair', '-n', '-f', part]);
      expect(xfsStat(part, '/usr/sbin/init')).toMatchObject({ mode: 0o100755, size: agent.length });
      expect(xfsCat(part, '/usr/sbin/init').equals(agent)).toBe(true);
      expect(xfsStat(part, '/usr/bin/perl').links).toBe(2);
      expect(xfsCat(part, '/usr/bin/perl5.36.0').equals(perl)).toBe(true);
    }
  });

  test('no leftovers and no loop device', () => {
    expect(leftovers(out)).toEqual(['osb.img']);
    expect(loopDevices()).toEqual(loopsBefore);
  });
});

test('ext4 is clearly smaller than the image Kata makes of the same rootfs', async () => {
  const out = join(dir, 'size');
  mkdirSync(out);
  const r = await buildImage(makeCtx(out), options(rootfs, join(out, 'osb.img'), { dax: true }));
  expect(r.sizeBytes).toBeLessThanOrEqual(0.8 * KATA_IMAGE_BYTES);
}, 120_000);

test.each(['ext4', 'erofs'] as FsType[])('%s: two builds of the Debian rootfs are byte-identical', async (fsType) => {
  const sums: string[] = [];
  for (const i of [0, 1]) {
    const out = join(dir, `repro-${fsType}-${i}`);
    mkdirSync(out);
    const r = await buildImage(makeCtx(out), options(rootfs, join(out, 'osb.img'), { fsType, dax: true }));
    sums.push(sha256(r.path));
  }
  expect(sums[1]).toBe(sums[0]);
}, 120_000);
