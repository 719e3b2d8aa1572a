/**
 * The disk around the filesystem: the sparse image file, its partition table and, with DAX, the
 * header in front of it. Kata's layout (image_builder.sh + nsdax.gpl.c), rebuilt without loops:
 *
 *   0      MBR of the "header disk": p1 at 3 MiB, i.e. the real partition seen from byte 0
 *   4096   NVDIMM PFN info block (dataoff = align = 2 MiB)
 *   2 MiB  the normal partitioned disk: its own table (MBR or GPT), p1 at +1 MiB = 3 MiB
 *
 * The kernel maps the nvdimm from dataoff, so the guest sees the normal disk (/dev/pmem0p1);
 * a tool reading the whole file as a disk sees the header's MBR and the same partition.
 * The header's table is always MBR: a GPT header would overlap the PFN block at 4096.
 */
import { join } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { encodePfnInfo, PFN_INFO_OFFSET } from './dax.js';
import { derivedMbrDiskId, derivedUuid, derivedUuidBytes } from './ids.js';
import { writeTable, type TableSpec } from './partition.js';
import { DAX_HEADER, PARTITION_START, type DiskLayout } from './sizing.js';
import { copySparse, createSparse, writeAt } from './sparse-io.js';
import { MiB, type PartitionTable } from './types.js';

export interface DiskTables {
  /** The table at byte 0 of the file. */
  readonly table: TableSpec;
  /** With DAX: the table of the disk after the header. */
  readonly innerTable?: TableSpec;
}

/** The table(s) a layout needs, with identifiers derived from the seed. */
export function tablesFor(layout: DiskLayout, table: PartitionTable, seed: string, gptType?: string, verityGptType?: string): DiskTables {
  const disk: TableSpec = {
    table,
    diskBytes: layout.diskBytes,
    startBytes: PARTITION_START,
    sizeBytes: layout.partitionBytes,
    diskId: table === 'gpt' ? derivedUuid(seed, 'gpt-disk') : derivedMbrDiskId(seed, 'mbr-disk'),
    partitionUuid: table === 'gpt' ? derivedUuid(seed, 'gpt-root-partition') : undefined,
    ...(table === 'gpt' && gptType ? { gptType } : {}),
    ...(layout.hashBytes
      ? { hash: { startBytes: layout.hashOffset - layout.headerBytes, sizeBytes: layout.hashBytes, ...(table === 'gpt' ? { partitionUuid: derivedUuid(seed, 'gpt-verity-partition'), gptType: verityGptType } : {}) } }
      : {}),
  };
  if (!layout.headerBytes) return { table: disk };
  // The header disk's p1 runs from 3 MiB to the end of the file: exactly the inner partition
  // (plus, with an inner GPT, its 1 MiB tail, which nothing in p1 uses).
  const header: TableSpec = {
    table: 'mbr',
    diskBytes: layout.totalBytes,
    startBytes: layout.partitionOffset,
    sizeBytes: layout.totalBytes - layout.partitionOffset,
    diskId: derivedMbrDiskId(seed, 'dax-mbr-disk'),
  };
  return { table: header, innerTable: disk };
}

/**
 * Create the sparse image file and write its table(s) and DAX header. The inner table is written
 * by sfdisk onto a scratch file of the inner disk's size (so GPT's backup lands at its end) and
 * copied into place.
 */
export async function writeDisk(ctx: BuildContext, imagePath: string, layout: DiskLayout, tables: DiskTables, seed: string, stageDir: string): Promise<void> {
  if (!ctx.dryRun) await createSparse(imagePath, layout.totalBytes);
  await writeTables(ctx, imagePath, layout, tables, seed, stageDir);
}

/**
 * The table(s) and DAX header of the sparse image `imagePath` (already its full size). They lie
 * outside the root partition (the first MiB, the header, a GPT's last MiB), so they may be written
 * while mkfs writes the partition; the two tables go side by side.
 */
export async function writeTables(ctx: BuildContext, imagePath: string, layout: DiskLayout, tables: DiskTables, seed: string, stageDir: string): Promise<void> {
  const inner = tables.innerTable;
  if (!inner) return writeTable(ctx, imagePath, tables.table);
  const scratch = join(stageDir, 'inner-table.img');
  const writeInner = async () => {
    if (!ctx.dryRun) await createSparse(scratch, layout.diskBytes);
    await writeTable(ctx, scratch, inner);
  };
  if (ctx.dryRun) await writeTable(ctx, imagePath, tables.table).then(writeInner);
  else await settledAll([writeTable(ctx, imagePath, tables.table), writeInner()]);
  if (ctx.dryRun) {
    ctx.log.info(`would copy the inner table to byte ${layout.headerBytes} and write the PFN info block at byte ${PFN_INFO_OFFSET}`);
    return;
  }
  await copySparse(scratch, 0, PARTITION_START, imagePath, layout.headerBytes);
  if (inner.table === 'gpt') await copySparse(scratch, layout.diskBytes - MiB, MiB, imagePath, layout.totalBytes - MiB);
  // After sfdisk: the header's MBR occupies sector 0 only, the PFN block sits at 4096.
  await writeAt(imagePath, PFN_INFO_OFFSET, encodePfnInfo({ uuid: derivedUuidBytes(seed, 'pfn-uuid'), namespaceBytes: layout.totalBytes, dataOffset: DAX_HEADER }));
}

/** Wait for every one of `work` (no tool is left writing), then fail with the first failure. */
export async function settledAll(work: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
