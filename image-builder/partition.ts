/**
 * Partition tables written by sfdisk onto plain files (script on stdin: no loop device, no
 * kernel involvement), read back with `sfdisk --json`, and a small independent parser for the
 * table inside a DAX image, which sits 2 MiB into the file where sfdisk cannot look.
 */
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import { dpsType, GPT_LINUX_FS } from '../lib/dps.js';
import type { PartitionTable } from './types.js';

/** The root type for `arch` and its verity type, from the UAPI discoverable partitions spec (lib/dps.ts). */
export const gptRootType = (arch: string | undefined): string => dpsType('root', arch);
export const gptRootVerityType = (arch: string | undefined): string => dpsType('root-verity', arch);
/** MBR type 0x83, Linux. */
export const MBR_LINUX = '83';
export const SECTOR = 512;

export interface TableSpec {
  readonly table: PartitionTable;
  /** Size of the disk the table describes (GPT puts its backup at the end). */
  readonly diskBytes: number;
  /** The one partition, relative to the disk start. */
  readonly startBytes: number;
  readonly sizeBytes: number;
  /** MBR disk identifier (32-bit) or GPT disk GUID. */
  readonly diskId: number | string;
  /** GPT partition GUID. */
  readonly partitionUuid?: string;
  /** GPT partition type. @default GPT_LINUX_FS */
  readonly gptType?: string;
  /** Measured rootfs: the dm-verity hash partition (p2), relative to the disk start. */
  readonly hash?: { readonly startBytes: number; readonly sizeBytes: number; readonly partitionUuid?: string; readonly gptType?: string };
}

/** What a table says about its first partition. */
export interface TableEntry {
  readonly label: 'dos' | 'gpt';
  readonly startBytes: number;
  readonly sizeBytes: number;
  /** "83" or the GPT type GUID, upper case. */
  readonly type: string;
  /** Partition 2 (the measured rootfs's hash partition), when the table has one. */
  readonly second?: { readonly startBytes: number; readonly sizeBytes: number; readonly type: string };
}

/** The sfdisk script for one Linux partition (see sfdisk(8), "Input format"). */
export function sfdiskScript(s: TableSpec): string {
  const lines = s.table === 'gpt' ? ['label: gpt', `label-id: ${String(s.diskId).toUpperCase()}`] : ['label: dos', `label-id: 0x${Number(s.diskId).toString(16).padStart(8, '0')}`];
  lines.push('unit: sectors', `sector-size: ${SECTOR}`, '');
  const part = [`start=${s.startBytes / SECTOR}`, `size=${s.sizeBytes / SECTOR}`];
  if (s.table === 'gpt') part.push(`type=${s.gptType ?? GPT_LINUX_FS}`, `uuid=${s.partitionUuid!.toUpperCase()}`, 'name="root"');
  else part.push(`type=${MBR_LINUX}`);
  lines.push(part.join(', '));
  if (s.hash) {
    const h = [`start=${s.hash.startBytes / SECTOR}`, `size=${s.hash.sizeBytes / SECTOR}`];
    if (s.table === 'gpt') h.push(`type=${s.hash.gptType ?? GPT_LINUX_FS}`, `uuid=${s.hash.partitionUuid!.toUpperCase()}`, 'name="root-verity"');
    else h.push(`type=${MBR_LINUX}`);
    lines.push(h.join(', '));
  }
  lines.push('');
  return lines.join('\n');
}

/** Write the table onto `file` (which must already have the disk's size). */
export async function writeTable(ctx: BuildContext, file: string, spec: TableSpec): Promise<void> {
  await ctx.run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', '--wipe', 'never', file], {
    input: sfdiskScript(spec),
    hint: 'sfdisk from util-linux 2.33 or later is needed',
  });
}

/** Read the first partition back with `sfdisk --json`. */
export async function readTable(ctx: BuildContext, file: string): Promise<TableEntry> {
  const { stdout } = await ctx.run(['sfdisk', '--json', file], { readOnly: true, quiet: true });
  const pt = (JSON.parse(stdout) as { partitiontable: { label: string; sectorsize?: number; partitions?: Array<{ start: number; size: number; type: string }> } }).partitiontable;
  const sector = pt.sectorsize ?? SECTOR;
  const p = pt.partitions?.[0];
  if (!p || (pt.label !== 'dos' && pt.label !== 'gpt')) throw new OsbError(`${file} has no partition table after writing one`, 'this is a bug in osb; please report it with the log');
  const p2 = pt.partitions?.[1];
  return { label: pt.label, startBytes: p.start * sector, sizeBytes: p.size * sector, type: p.type.toUpperCase(), ...(p2 ? { second: { startBytes: p2.start * sector, sizeBytes: p2.size * sector, type: p2.type.toUpperCase() } } : {}) };
}

/** Decode partition 1 from the first 34 sectors of a disk (MBR, or GPT behind a protective MBR). */
export function parseTable(head: Buffer): TableEntry | undefined {
  if (head.length < 34 * SECTOR || head.readUInt16LE(510) !== 0xaa55) return undefined;
  const mbrType = head[446 + 4]!;
  if (mbrType !== 0xee) {
    return { label: 'dos', startBytes: head.readUInt32LE(446 + 8) * SECTOR, sizeBytes: head.readUInt32LE(446 + 12) * SECTOR, type: mbrType.toString(16).toUpperCase() };
  }
  if (head.toString('latin1', SECTOR, SECTOR + 8) !== 'EFI PART') return undefined;
  const entriesLba = Number(head.readBigUInt64LE(SECTOR + 72));
  const e = Number(entriesLba) * SECTOR;
  if (e + 128 > head.length) return undefined;
  const first = Number(head.readBigUInt64LE(e + 32));
  const last = Number(head.readBigUInt64LE(e + 40));
  return { label: 'gpt', startBytes: first * SECTOR, sizeBytes: (last - first + 1) * SECTOR, type: guidFromDisk(head.subarray(e, e + 16)) };
}

/** GPT stores the first three GUID fields little-endian. */
function guidFromDisk(b: Buffer): string {
  const hex = (x: Buffer) => x.toString('hex');
  const le = (x: Buffer) => hex(Buffer.from(x).reverse());
  return `${le(b.subarray(0, 4))}-${le(b.subarray(4, 6))}-${le(b.subarray(6, 8))}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`.toUpperCase();
}

/** Throw unless `actual` is the table `spec` asked for. */
export function checkTable(where: string, actual: TableEntry | undefined, spec: TableSpec): void {
  const want: TableEntry = { label: spec.table === 'gpt' ? 'gpt' : 'dos', startBytes: spec.startBytes, sizeBytes: spec.sizeBytes, type: spec.table === 'gpt' ? (spec.gptType ?? GPT_LINUX_FS).toUpperCase() : MBR_LINUX };
  const show = (t: TableEntry | undefined) => (t ? `${t.label} p1 start ${t.startBytes} size ${t.sizeBytes} type ${t.type}` : 'no table');
  if (!actual || actual.label !== want.label || actual.startBytes !== want.startBytes || actual.sizeBytes !== want.sizeBytes || actual.type !== want.type) {
    throw new OsbError(`partition table ${where} does not match what osb wrote: found ${show(actual)}, expected ${show(want)}`, 'this is a bug in osb; please report it with the log');
  }
  if (spec.hash) {
    const h = actual.second;
    const type = spec.table === 'gpt' ? (spec.hash.gptType ?? GPT_LINUX_FS).toUpperCase() : MBR_LINUX;
    if (!h || h.startBytes !== spec.hash.startBytes || h.sizeBytes !== spec.hash.sizeBytes || h.type !== type) {
      throw new OsbError(`partition table ${where} has no hash partition p2 at ${spec.hash.startBytes} (${spec.hash.sizeBytes} bytes, type ${type}) as osb wrote`, 'this is a bug in osb; please report it with the log');
    }
  }
}
