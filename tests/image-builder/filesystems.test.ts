/**
 * Images of the fixture rootfs for every filesystem and partition table, checked with tools
 * that share no code with osb: sfdisk and parted for the layout, the filesystem's own checker,
 * and debugfs / dump.erofs / xfs_db for the content (agent, hard link, special files, bytes).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type FsType, type PartitionTable } from '../../image-builder/index.js';
import { AGENT_SCRIPT, isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { MiB, erofsMode, erofsStat, ext4Cat, ext4Stat, extractPartition, leftovers, loopDevices, makeCtx, options, partedPartitions, removeTempDirs, sfdiskJson, sh, tempDir, xfsCat, xfsStat } from './helpers.js';

/** The DPS root type of the host's arch (the image is built for the host). */
const GPT_ROOT = process.arch === 'arm64' ? 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE' : '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709';
let dir: string;
let rootfs: string;
let loopsBefore: string[];
const agentBytes = readFileSync(AGENT_SCRIPT);
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
  loopsBefore = loopDevices();
});
afterAll(removeTempDirs);

const cases: Array<[FsType, PartitionTable]> = [];
for (const fs of ['ext4', 'erofs', ...(isRoot ? ['xfs' as const] : [])] as FsType[]) for (const t of ['mbr', 'gpt'] as PartitionTable[]) cases.push([fs, t]);

describe.each(cases)('%s on %s', (fsType, table) => {
  let out: string;
  let image: string;
  let result: Awaited<ReturnType<typeof buildImage>>;
  let fsFile: string;
  beforeAll(async () => {
    out = join(dir, `${fsType}-${table}`);
    mkdirSync(out);
    image = join(out, 'osb.img');
    result = await buildImage(makeCtx(out), options(rootfs, image, { fsType, partitionTable: table }));
    const p = sfdiskJson(image).partitions[0]!;
    fsFile = extractPartition(image, p.start * 512, p.size * 512, join(dir, `${fsType}-${table}.part`));
  }, 60_000);

  test('one Linux partition at 1 MiB filling the disk, as sfdisk and parted read it', () => {
    const size = statSync(image).size;
    expect(result.sizeBytes).toBe(size);
    expect(size % MiB).toBe(0);
    const pt = sfdiskJson(image);
    expect(pt.label).toBe(table === 'gpt' ? 'gpt' : 'dos');
    expect(pt.partitions).toHaveLength(1);
    const p = pt.partitions[0]!;
    expect(p.start * 512).toBe(MiB);
    expect(result.partitionOffset).toBe(MiB);
    expect(p.type.toUpperCase()).toBe(table === 'gpt' ? GPT_ROOT : '83');
    // MBR: to the last sector (Kata's `mkpart primary 1MiB -1s`); GPT: up to the last MiB, which holds the backup table.
    expect((p.start + p.size) * 512).toBe(table === 'gpt' ? size - MiB : size);
    const parted = partedPartitions(image);
    expect(parted).toHaveLength(1);
    expect(parted[0]!.start % MiB).toBe(0);
    expect(parted[0]!.size).toBe(p.size * 512);
    if (fsType !== 'erofs') expect(parted[0]!.fs).toBe(fsType);
  });

  test('the filesystem checker finds nothing to fix', () => {
    if (fsType === 'ext4') sh(['e2fsck', '-f', '-n', `${image}?offset=${MiB}`]);
    else if (fsType === 'xfs') sh(['xfs_repair', '-n', '-f', fsFile]);
    else sh(['fsck.erofs', '--extract', fsFile]);
  });

  test('the agent is /sbin/init, a regular file with mode 0755 and its bytes; hard links, setuid and symlinks survive', () => {
    if (fsType === 'ext4') {
      const init = ext4Stat(image, MiB, '/sbin/init')!;
      expect(init).toMatchObject({ type: 'regular', mode: 0o755, size: agentBytes.length });
      expect(ext4Cat(image, MiB, '/sbin/init')).toBe(agentBytes.toString());
      expect(ext4Stat(image, MiB, '/var/lib/data/hello.txt')!.links).toBe(2);
      expect(ext4Cat(image, MiB, '/var/lib/data/hello-link.txt')).toBe('hello from the fixture\n');
      expect(ext4Stat(image, MiB, '/var/lib/data/setuid-tool')!.mode).toBe(0o4755);
      expect(ext4Stat(image, MiB, '/usr/bin/env')!.raw).toContain('Fast link dest: "../../bin/busybox"');
      if (isRoot) expect(ext4Stat(image, MiB, '/dev/null')!.type).toBe('character special');
    } else if (fsType === 'erofs') {
      expect(erofsStat(fsFile, '/sbin/init')).toMatchObject({ type: 'regular', mode: 0o755, size: agentBytes.length });
      expect(erofsStat(fsFile, '/var/lib/data/hello.txt').links).toBe(2);
      expect(erofsMode(fsFile, '/var/lib/data/setuid-tool')).toBe(0o104755);
      expect(erofsStat(fsFile, '/usr/bin/env').type).toBe('symlink');
      const x = join(dir, `${fsType}-${table}.extract`);
      sh(['fsck.erofs', `--extract=${x}`, fsFile]);
      expect(readFileSync(join(x, 'sbin/init'))).toEqual(agentBytes);
      expect(readFileSync(join(x, 'var/lib/data/hello-link.txt'), 'utf8')).toBe('hello from the fixture\n');
      // fsck.erofs 1.5 extracts hard links as copies: compare the inode ids instead.
      const nid = (p: string) => /NID:\s+(\d+)/.exec(sh(['dump.erofs', `--path=${p}`, fsFile]))![1];
      expect(nid('/var/lib/data/hello.txt')).toBe(nid('/var/lib/data/hello-link.txt'));
    } else {
      expect(xfsStat(fsFile, '/sbin/init')).toMatchObject({ mode: 0o100755, size: agentBytes.length });
      expect(xfsCat(fsFile, '/sbin/init')).toEqual(agentBytes);
      expect(xfsStat(fsFile, '/var/lib/data/hello.txt').links).toBe(2);
      expect(xfsCat(fsFile, '/var/lib/data/hello-link.txt').toString()).toBe('hello from the fixture\n');
      expect(xfsStat(fsFile, '/var/lib/data/setuid-tool').mode).toBe(0o104755);
      expect(xfsStat(fsFile, '/dev/null').mode & 0o170000).toBe(0o020000);
    }
  });

  test('nothing is left beside the image and no loop device stays attached', () => {
    expect(leftovers(out)).toEqual(['osb.img']);
    expect(loopDevices()).toEqual(loopsBefore);
  });
});
