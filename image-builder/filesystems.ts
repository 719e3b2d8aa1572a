/**
 * Making the root filesystem from the rootfs directory. ext4 and erofs are loopless and need no
 * root: mke2fs writes the filesystem straight into the image at the partition offset, mkfs.erofs
 * into a file of its own. xfs is the exception, see fillXfs.
 */
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { withCleanup } from '../lib/cleanup.js';
import { CommandError, OsbError } from '../lib/errors.js';
import { createRunner, type Runner } from '../lib/run.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXT4_FEATURES, EXT4_INODE_SIZE, ext4JournalBlocks } from './ext4-sizing.js';
import { MiB } from './types.js';
import { xfsAgCount, xfsLogBytes } from './xfs-sizing.js';

export interface Ext4Spec {
  readonly imagePath: string;
  /** Byte offset of the partition in the image. */
  readonly offset: number;
  readonly fsBytes: number;
  readonly blockSize: number;
  readonly inodes: number;
  readonly rootfsDir: string;
  readonly uuid: string;
  readonly hashSeed: string;
}

/** Kata's image_builder.sh runs `tune2fs -m 3`: 3 % of blocks reserved for root. */
const EXT4_RESERVED_PERCENT = 3;

export function mkfsExt4Argv(s: Ext4Spec): string[] {
  const blocks = Math.floor(s.fsBytes / s.blockSize);
  const journalMiB = (ext4JournalBlocks(blocks, s.blockSize) * s.blockSize) / MiB;
  return [
    'mkfs.ext4', '-q', '-F', '-t', 'ext4',
    // Every feature named, so the host's mke2fs.conf cannot change the layout the sizing assumed.
    '-O', ['none', ...EXT4_FEATURES].join(','),
    '-b', String(s.blockSize), '-I', String(EXT4_INODE_SIZE), '-N', String(s.inodes),
    '-J', `size=${journalMiB}`, '-m', String(EXT4_RESERVED_PERCENT), '-U', s.uuid,
    // The image file is new and sparse, so it reads as zeros: mke2fs need not write zeros to the
    // inode tables and journal, and marks them zeroed whatever the host's lazy_itable_init default.
    '-E', `root_owner=0:0,hash_seed=${s.hashSeed},offset=${s.offset},assume_storage_prezeroed=1,nodiscard`,
    '-d', s.rootfsDir, s.imagePath, String(blocks),
  ];
}

export async function makeExt4(ctx: BuildContext, s: Ext4Spec): Promise<void> {
  // mke2fs takes its own clock from E2FSPROGS_FAKE_TIME (superblock times, lost+found, crtime).
  await ctx.run(mkfsExt4Argv(s), { env: { E2FSPROGS_FAKE_TIME: String(ctx.sourceDateEpoch) }, hint: 'mkfs.ext4 -d needs e2fsprogs 1.46 or later' });
}

/** The best compressor this mkfs.erofs offers: lz4hc as Kata uses, else none. */
export async function erofsCompressor(ctx: BuildContext): Promise<string | undefined> {
  const r = await ctx.run(['mkfs.erofs', '--help'], { readOnly: true, allowFail: true, quiet: true });
  return /\blz4hc\b/.test(r.stdout + r.stderr) ? 'lz4hc' : undefined;
}

export interface ErofsSpec {
  readonly fsPath: string;
  readonly rootfsDir: string;
  readonly uuid: string;
  readonly compressor: string | undefined;
}

export function mkfsErofsArgv(s: ErofsSpec): string[] {
  // Owners are kept (no --all-root). Timestamps: with SOURCE_DATE_EPOCH set, mkfs.erofs uses it
  // as build time and clamps newer mtimes to it, keeping older ones; `-T` would flatten them all.
  return ['mkfs.erofs', '--quiet', ...(s.compressor ? [`-z${s.compressor}`] : []), '-U', s.uuid, s.fsPath, s.rootfsDir];
}

export async function makeErofs(ctx: BuildContext, s: ErofsSpec): Promise<void> {
  await ctx.run(mkfsErofsArgv(s), { env: { SOURCE_DATE_EPOCH: String(ctx.sourceDateEpoch) } });
}

export interface XfsSpec {
  readonly fsPath: string;
  readonly fsBytes: number;
  readonly blockSize: number;
  readonly uuid: string;
}

export function mkfsXfsArgv(s: XfsSpec): string[] {
  return [
    'mkfs.xfs', '-q', '-f', '-b', `size=${s.blockSize}`,
    // reflink off as Kata; log and AG count fixed so the sizing model knows them.
    '-m', `reflink=0,uuid=${s.uuid}`, '-l', `size=${xfsLogBytes(s.fsBytes)}`, '-d', `agcount=${xfsAgCount(s.fsBytes)}`,
    s.fsPath,
  ];
}

/**
 * Copy the rootfs into the xfs filesystem in `fsPath` through a loop mount: the last resort the
 * design allows. mkfs.xfs' protofile (`-p`, xfsprogs 6.1) cannot reproduce a rootfs faithfully:
 * no hard links, no timestamps, no extended attributes, no names with spaces or colons. The loop
 * device and the mount are released on every exit path (lib/cleanup.ts), by a runner without
 * the build's abort signal so an interrupt cannot cancel the release itself.
 */
export async function fillXfs(ctx: BuildContext, fsPath: string, rootfsDir: string, inspect: (mountPoint: string) => Promise<void>): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new OsbError('xfs images need root: osb fills xfs through a loop mount (mkfs.xfs cannot copy a tree faithfully)', 'run as root, or use --fs-type ext4 or erofs, which need no root');
  }
  const release = createRunner({ reporter: ctx.log, logPath: ctx.run.logPath, sourceDateEpoch: ctx.sourceDateEpoch });
  const mnt = ctx.dryRun ? join(tmpdir(), 'osb-xfs-XXXXXX') : await mkdtemp(join(tmpdir(), 'osb-xfs-'));
  let loop: string | undefined;
  let mounted = false;
  // On an interrupt the signal handler's runCleanups and this function's own unwinding both call
  // the cleanup: share one run.
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= releaseMount(release, mnt, mounted, loop, ctx.dryRun));
  await withCleanup(cleanup, async () => {
    const { stdout } = await ctx.run(['losetup', '--find', '--show', fsPath]);
    const attached = ctx.dryRun ? '/dev/loopN' : stdout.trim();
    if (!/^\/dev\/loop\w+$/.test(attached)) throw new OsbError(`losetup did not attach ${fsPath}: got "${attached}"`, 'check that loop devices are available (modprobe loop)');
    loop = attached;
    await ctx.run(['mount', '-t', 'xfs', attached, mnt]);
    mounted = true;
    // Two passes: first every inode, link and attribute without data, then the data. One pass
    // fails near full: delayed allocation reserves worst-case btree blocks for every file not yet
    // written back, and creating a symlink does not flush them on ENOSPC the way a write does.
    await ctx.run(['cp', '-a', '--attributes-only', '--', `${rootfsDir}/.`, `${mnt}/`]);
    const copyData = () => ctx.run(['cp', '-a', '--', `${rootfsDir}/.`, `${mnt}/`]);
    try {
      await copyData();
    } catch (e) {
      // Delayed-allocation reservations of files not yet written back can still exhaust a
      // tightly sized xfs (seen with a Debian tree fresh in the page cache: 224 MiB "used" that
      // fell to 194 MiB after a sync). Flush them and copy again; cp -a is idempotent. A second
      // ENOSPC is real and fails the build.
      if (!(e instanceof CommandError) || !e.tail.some((l) => l.includes('No space left on device'))) throw e;
      ctx.log.info('xfs: flushing delayed allocations after ENOSPC, copying again');
      await ctx.run(['sync', '-f', mnt]);
      await copyData();
    }
    if (!ctx.dryRun) await inspect(mnt);
    // Released here on success so a failing umount is an error, not a silent leftover.
    await ctx.run(['umount', mnt]);
    mounted = false;
    await ctx.run(['losetup', '--detach', attached]);
    loop = undefined;
  });
}

/**
 * Release after a failure or an interrupt. The cp being cancelled may still hold the mount for
 * a moment (SIGTERM, then SIGKILL after 3 s): retry, then detach lazily so the kernel finishes
 * when the last file closes. `losetup --detach` on a busy device sets autoclear (loop_clr_fd).
 */
async function releaseMount(release: Runner, mnt: string, mounted: boolean, loop: string | undefined, dryRun: boolean): Promise<void> {
  if (mounted) {
    let done = false;
    for (let i = 0; i < 40 && !done; i++) {
      done = (await release(['umount', mnt], { allowFail: true })).exitCode === 0;
      if (!done) await sleep(100);
    }
    if (!done) await release(['umount', '--lazy', mnt], { allowFail: true });
  }
  if (loop) await release(['losetup', '--detach', loop], { allowFail: true });
  if (!dryRun) await rmdir(mnt).catch(() => {});
}
