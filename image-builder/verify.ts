/**
 * Read back what was written (DESIGN principle 9): the partition table, the filesystem magic and
 * size at the partition offset, the filesystem checker, and the agent at /sbin/init. Kata's
 * image_builder.sh can silently produce an empty partition; osb refuses to.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import { PFN_FIELDS, PFN_INFO_OFFSET, PFN_INFO_SIZE, ndFletcher64 } from './dax.js';
import { checkTable, parseTable, readTable, SECTOR, type TableSpec } from './partition.js';
import { readAt } from './sparse-io.js';
import type { DiskLayout } from './sizing.js';
import type { FsType } from './types.js';

const bug = 'this is a bug in osb; please report it with the log';

/** Where `path` (absolute inside the rootfs) lands with every directory symlink resolved inside `root`; undefined if it does not exist. */
export function resolveInRoot(root: string, path: string): string | undefined {
  let parts = path.split('/').filter(Boolean);
  const done: string[] = [];
  for (let hops = 0; parts.length; ) {
    const name = parts.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      done.pop();
      continue;
    }
    const abs = `${root}/${[...done, name].join('/')}`;
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink() && parts.length > 0) {
      if (++hops > 40) return undefined;
      const target = readlinkSync(abs);
      if (target.startsWith('/')) done.length = 0;
      parts = [...target.split('/').filter(Boolean), ...parts];
      continue;
    }
    done.push(name);
  }
  return `/${done.join('/')}`;
}

/** What is checked about the agent: type, permission bits and (for a file) size. */
export interface InodeSummary {
  readonly type: 'regular' | 'symlink' | 'directory' | 'other';
  readonly mode: number;
  readonly size: number;
}

export function summarize(st: { isFile(): boolean; isSymbolicLink(): boolean; isDirectory(): boolean; mode: number; size: number }): InodeSummary {
  const type = st.isFile() ? 'regular' : st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : 'other';
  return { type, mode: st.mode & 0o7777, size: type === 'regular' ? st.size : 0 };
}

export function checkAgent(path: string, want: InodeSummary, found: InodeSummary | undefined): void {
  const show = (s: InodeSummary) => `${s.type} ${s.mode.toString(8).padStart(4, '0')}${s.type === 'regular' ? ` ${s.size} bytes` : ''}`;
  if (!found) throw new OsbError(`the agent ${path} is missing from the image although the rootfs has it`, bug);
  if (found.type !== want.type || found.mode !== want.mode || (want.type === 'regular' && found.size !== want.size)) {
    throw new OsbError(`the agent ${path} in the image (${show(found)}) differs from the rootfs (${show(want)})`, bug);
  }
}

/** The agent as the filesystem holds it, read with the filesystem's own tools. */
async function agentInImage(ctx: BuildContext, fsType: FsType, target: string, path: string): Promise<InodeSummary | undefined> {
  if (fsType === 'ext4') {
    const r = await ctx.run(['debugfs', '-R', `stat "${path}"`, target], { readOnly: true, quiet: true });
    const m = /Type:\s+(\w+)\s+Mode:\s+(\d+)/.exec(r.stdout);
    if (!m) return undefined;
    const size = Number(/Size:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
    const type = m[1] === 'regular' || m[1] === 'symlink' || m[1] === 'directory' ? m[1] : 'other';
    return { type, mode: parseInt(m[2]!, 8), size: type === 'regular' ? size : 0 };
  }
  const r = await ctx.run(['dump.erofs', `--path=${path}`, target], { readOnly: true, quiet: true, allowFail: true });
  const m = /Access:\s+(\d+)\//.exec(r.stdout);
  if (r.exitCode !== 0 || !m) return undefined;
  const type = /regular file/.test(r.stdout) ? 'regular' : /symlink/.test(r.stdout) ? 'symlink' : /directory/.test(r.stdout) ? 'directory' : 'other';
  return { type, mode: parseInt(m[1]!, 8), size: type === 'regular' ? Number(/Size:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0) : 0 };
}

/** Check the agent at /sbin/init (when the rootfs has one) in an ext4 or erofs filesystem. */
export async function verifyAgent(ctx: BuildContext, fsType: 'ext4' | 'erofs', target: string, rootfsDir: string): Promise<void> {
  const path = resolveInRoot(rootfsDir, '/sbin/init');
  if (!path) return ctx.log.debug('the rootfs has no /sbin/init: no agent to check');
  checkAgent('/sbin/init', summarize(lstatSync(rootfsDir + path)), await agentInImage(ctx, fsType, target, path));
}

/** Check the agent in a mounted copy of the rootfs at `mountPoint`. */
export function verifyAgentInTree(mountPoint: string, rootfsDir: string): void {
  const path = resolveInRoot(rootfsDir, '/sbin/init');
  if (!path) return;
  let found: InodeSummary | undefined;
  try {
    found = summarize(lstatSync(mountPoint + path));
  } catch {
    found = undefined;
  }
  checkAgent('/sbin/init', summarize(lstatSync(rootfsDir + path)), found);
}

/** Run the filesystem's checker read-only; any complaint is an error. */
export async function checkFilesystem(ctx: BuildContext, fsType: FsType, target: string): Promise<void> {
  const argv =
    fsType === 'ext4' ? ['e2fsck', '-f', '-n', target] : fsType === 'xfs' ? ['xfs_repair', '-n', '-f', target] : ['fsck.erofs', '--extract', target];
  const r = await ctx.run(argv, { readOnly: true, allowFail: true, quiet: true });
  if (r.exitCode !== 0) {
    const tail = (r.stdout + r.stderr).trim().split('\n').slice(-5).join(' | ');
    throw new OsbError(`${argv[0]} found problems in the new ${fsType} filesystem (exit ${r.exitCode}): ${tail}`, bug);
  }
}

/** Magic number and size of the filesystem at `offset`, from its superblock. */
export async function readSuperblock(path: string, offset: number, fsType: FsType): Promise<{ magicOk: boolean; bytes: number }> {
  const sb = await readAt(path, offset, 2048);
  switch (fsType) {
    case 'ext4': // struct ext4_super_block at 1024: s_magic 0xEF53 at +0x38
      return { magicOk: sb.readUInt16LE(1024 + 0x38) === 0xef53, bytes: (sb.readUInt32LE(1024 + 0x04) + sb.readUInt32LE(1024 + 0x150) * 2 ** 32) * (1024 << sb.readUInt32LE(1024 + 0x18)) };
    case 'xfs': // struct xfs_dsb at 0, big-endian: "XFSB", sb_blocksize, sb_dblocks
      return { magicOk: sb.toString('latin1', 0, 4) === 'XFSB', bytes: sb.readUInt32BE(4) * Number(sb.readBigUInt64BE(8)) };
    case 'erofs': // struct erofs_super_block at 1024: magic 0xE0F5E1E2, blkszbits at +12, blocks at +36
      return { magicOk: sb.readUInt32LE(1024) === 0xe0f5e1e2, bytes: sb.readUInt32LE(1024 + 36) * 2 ** sb[1024 + 12]! };
  }
}

export interface DiskCheck {
  readonly imagePath: string;
  readonly layout: DiskLayout;
  readonly fsType: FsType;
  /** The table `sfdisk --json` must show for the file. */
  readonly table: TableSpec;
  /** With DAX: the table of the disk that starts after the header. */
  readonly innerTable?: TableSpec;
}

/** Partition table(s), DAX header, and the filesystem superblock at the partition offset. */
export async function verifyDisk(ctx: BuildContext, c: DiskCheck): Promise<void> {
  checkTable(`of ${c.imagePath}`, await readTable(ctx, c.imagePath), c.table);
  if (c.innerTable) {
    checkTable(`at byte ${c.layout.headerBytes}`, parseTable(await readAt(c.imagePath, c.layout.headerBytes, 34 * SECTOR)), c.innerTable);
    const pfn = await readAt(c.imagePath, PFN_INFO_OFFSET, PFN_INFO_SIZE);
    const stored = pfn.readBigUInt64LE(PFN_FIELDS.checksum);
    pfn.writeBigUInt64LE(0n, PFN_FIELDS.checksum);
    if (pfn.toString('latin1', 0, 16) !== 'NVDIMM_PFN_INFO\0' || ndFletcher64(pfn) !== stored) throw new OsbError(`the DAX PFN info block at byte ${PFN_INFO_OFFSET} is not valid`, bug);
  }
  const sb = await readSuperblock(c.imagePath, c.layout.partitionOffset, c.fsType);
  if (!sb.magicOk) throw new OsbError(`no ${c.fsType} filesystem at the partition offset ${c.layout.partitionOffset} of ${c.imagePath}`, bug);
  if (sb.bytes > c.layout.partitionBytes) throw new OsbError(`the ${c.fsType} filesystem (${sb.bytes} bytes) is larger than its partition (${c.layout.partitionBytes} bytes)`, bug);
}
