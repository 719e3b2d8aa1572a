/**
 * The DAX header decoded against the kernel's struct nd_pfn_sb (drivers/nvdimm/pfn.h) and the
 * checks of nd_pfn_validate (drivers/nvdimm/pfn_devs.c), with the checksum computed here as
 * nd_fletcher64 does; and the two tables: the header disk's MBR at 0, the real one at 2 MiB.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type PartitionTable } from '../../image-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { MiB, ext4Stat, extractPartition, makeCtx, options, removeTempDirs, sfdiskJson, sh, tempDir } from './helpers.js';

/** struct nd_pfn_sb, field by field as pfn.h declares it (packed: every field is naturally aligned). */
function decodePfnSb(b: Buffer) {
  return {
    signature: b.subarray(0, 16).toString('latin1'),
    uuid: b.subarray(16, 32),
    parentUuid: b.subarray(32, 48),
    flags: b.readUInt32LE(48),
    versionMajor: b.readUInt16LE(52),
    versionMinor: b.readUInt16LE(54),
    dataoff: b.readBigUInt64LE(56),
    npfns: b.readBigUInt64LE(64),
    mode: b.readUInt32LE(72),
    startPad: b.readUInt32LE(76),
    endTrunc: b.readUInt32LE(80),
    align: b.readUInt32LE(84),
    pageSize: b.readUInt32LE(88),
    pageStructSize: b.readUInt16LE(92),
    padding: b.subarray(94, 94 + 3994),
    checksum: b.readBigUInt64LE(94 + 3994),
  };
}

/** nd_fletcher64(addr, 4096, le=1) with u32 lo32 and u64 hi32, in BigInt as the C does it. */
function fletcher64(block: Buffer): bigint {
  let lo = 0n;
  let hi = 0n;
  const M32 = (1n << 32n) - 1n;
  const M64 = (1n << 64n) - 1n;
  for (let i = 0; i < block.length; i += 4) {
    lo = (lo + BigInt(block.readUInt32LE(i))) & M32;
    hi = (hi + lo) & M64;
  }
  return ((hi << 32n) | lo) & M64;
}

let dir: string;
let rootfs: string;
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

describe.each(['mbr', 'gpt'] as PartitionTable[])('DAX image, inner table %s', (table) => {
  let image: string;
  let size: number;
  beforeAll(async () => {
    const out = join(dir, table);
    mkdirSync(out);
    image = join(out, 'osb.img');
    await buildImage(makeCtx(out), options(rootfs, image, { dax: true, partitionTable: table }));
    size = statSync(image).size;
  }, 60_000);

  test('the PFN info block at 4096 passes the checks of nd_pfn_validate', () => {
    const block = readFileSync(image).subarray(4096, 8192);
    const sb = decodePfnSb(block);
    expect(94 + 3994 + 8).toBe(4096); // sizeof(struct nd_pfn_sb) == SZ_4K (BUILD_BUG_ON in claim.c)
    expect(sb.signature).toBe('NVDIMM_PFN_INFO\0');
    const zeroed = Buffer.from(block);
    zeroed.writeBigUInt64LE(0n, 4088);
    expect(sb.checksum).toBe(fletcher64(zeroed));
    // parent_uuid must equal nd_dev_to_uuid() of the namespace: the null uuid for an io namespace.
    expect(sb.parentUuid.equals(Buffer.alloc(16))).toBe(true);
    expect(sb.uuid.equals(Buffer.alloc(16))).toBe(false);
    expect(sb.flags).toBe(0);
    expect([sb.versionMajor, sb.versionMinor]).toEqual([1, 2]);
    expect(sb.mode).toBe(1); // PFN_MODE_RAM
    expect(sb.dataoff).toBe(BigInt(2 * MiB));
    expect(sb.align).toBe(2 * MiB);
    expect([sb.startPad, sb.endTrunc]).toEqual([0, 0]);
    expect(sb.npfns).toBe(BigInt((size - 2 * MiB) / 4096));
    expect(sb.padding.equals(Buffer.alloc(3994))).toBe(true);
    // dataoff < namespace size, aligned to align and PAGE_SIZE, >= the 8 KiB info block reserve;
    // the namespace end (size - end_trunc) aligned to memremap_compat_align() (2 MiB on x86).
    expect(Number(sb.dataoff)).toBeLessThan(size);
    expect(Number(sb.dataoff) % sb.align).toBe(0);
    expect(Number(sb.dataoff)).toBeGreaterThanOrEqual(8192);
    expect((size - sb.endTrunc) % (2 * MiB)).toBe(0);
  });

  test('the MBR at 0 puts p1 at 3 MiB through to the end of the file', () => {
    const pt = sfdiskJson(image);
    expect(pt.label).toBe('dos');
    expect(pt.partitions).toHaveLength(1);
    expect(pt.partitions[0]!.start * 512).toBe(3 * MiB);
    expect((pt.partitions[0]!.start + pt.partitions[0]!.size) * 512).toBe(size);
    expect(pt.partitions[0]!.type).toBe('83');
    expect(readFileSync(image).readUInt16LE(510)).toBe(0xaa55);
  });

  test('the disk at 2 MiB has its own table with p1 at 1 MiB, and the filesystem is there', () => {
    const inner = extractPartition(image, 2 * MiB, size - 2 * MiB, join(dir, `${table}-inner.img`));
    const pt = sfdiskJson(inner);
    expect(pt.label).toBe(table === 'gpt' ? 'gpt' : 'dos');
    expect(pt.partitions).toHaveLength(1);
    expect(pt.partitions[0]!.start * 512).toBe(MiB);
    // The header disk's p1 and the inner p1 are the same bytes of the file.
    expect(2 * MiB + pt.partitions[0]!.start * 512).toBe(sfdiskJson(image).partitions[0]!.start * 512);
    sh(['e2fsck', '-f', '-n', `${inner}?offset=${MiB}`]);
    sh(['e2fsck', '-f', '-n', `${image}?offset=${3 * MiB}`]);
    expect(ext4Stat(image, 3 * MiB, '/sbin/init')).toMatchObject({ type: 'regular', mode: 0o755 });
  });
});
