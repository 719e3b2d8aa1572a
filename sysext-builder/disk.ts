/**
 * The disks around an extension's file system: its dm-verity hash tree (lib/verity.ts), and the
 * partition table that puts the two side by side (written by sfdisk onto a plain file: no loop device).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat, truncate, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import { formatVerity as makeTree, verifyVerity, VERITY_BLOCK, VERITY_HASH } from '../lib/verity.js';

const MIB = 1048576;
const SECTOR = 512;

/** The extension's hash tree (lib/verity.ts), read back; its root hash and the block count. */
export async function formatVerity(ctx: BuildContext, data: string, hash: string, o: { salt: string; uuid?: string; noSuperblock: boolean }): Promise<{ rootHash: string; dataBlocks: number }> {
  const dataBytes = (await stat(data)).size;
  if (dataBytes % VERITY_BLOCK !== 0) throw new OsbError(`the extension's file system is ${dataBytes} bytes, not whole ${VERITY_BLOCK}-byte blocks`, 'check the mkfs version (the log has its output)');
  const dataBlocks = dataBytes / VERITY_BLOCK;
  const rootHash = await makeTree(ctx, data, hash, { dataBlocks, salt: o.salt, ...(o.noSuperblock ? {} : { superblockUuid: o.uuid }) });
  const p = { rootHash, salt: o.salt, dataBlocks, dataBlockSize: VERITY_BLOCK, hashBlockSize: VERITY_BLOCK, hashAlgorithm: VERITY_HASH };
  await verifyVerity(ctx, data, hash, p, { superblock: !o.noSuperblock });
  return { rootHash, dataBlocks };
}

async function copyAt(src: string, dest: string, offset: number): Promise<void> {
  await pipeline(createReadStream(src), createWriteStream(dest, { flags: 'r+', start: offset }));
}

export interface DiskPart {
  readonly file: string;
  /** GPT: the partition's type, UUID and name. */
  readonly type?: string;
  readonly uuid?: string;
  readonly name?: string;
}

/**
 * `parts` one after the other from 1 MiB, each in whole MiB (at least one, so an empty hash tree
 * still has its partition), under an MBR (`label-id` a 32-bit number) or a GPT (a disk GUID).
 */
export async function writeDisk(ctx: BuildContext, out: string, table: { label: 'dos'; id: number } | { label: 'gpt'; id: string }, parts: readonly DiskPart[]): Promise<void> {
  const sectors = await Promise.all(parts.map(async (p) => Math.max(1, Math.ceil((await stat(p.file)).size / MIB)) * (MIB / SECTOR)));
  const starts = sectors.map((_, i) => 2048 + sectors.slice(0, i).reduce((a, b) => a + b, 0));
  const end = starts[starts.length - 1]! + sectors[sectors.length - 1]!;
  // A GPT keeps its backup in the last 33 sectors: one more MiB.
  await writeFile(out, '');
  await truncate(out, (end + (table.label === 'gpt' ? 2048 : 0)) * SECTOR);
  const id = table.label === 'dos' ? `0x${table.id.toString(16).padStart(8, '0')}` : table.id.toUpperCase();
  const lines = parts.map((p, i) => {
    const fields = [`start=${starts[i]}`, `size=${sectors[i]}`, table.label === 'dos' ? 'type=83' : `type=${p.type}`];
    if (table.label === 'gpt') fields.push(`uuid=${p.uuid!.toUpperCase()}`, `name="${p.name}"`);
    return fields.join(', ');
  });
  const script = `label: ${table.label}\nlabel-id: ${id}\nunit: sectors\n${table.label === 'gpt' ? 'first-lba: 2048\n' : ''}\n${lines.join('\n')}\n`;
  await ctx.run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', out], { input: script, hint: 'sfdisk is in package fdisk' });
  for (const [i, p] of parts.entries()) await copyAt(p.file, out, starts[i]! * SECTOR);
}
