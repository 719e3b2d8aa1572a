/**
 * image-builder: a bootable partitioned disk image from a rootfs directory, rootless (ext4,
 * erofs), loopless (ext4, erofs), sized exactly in one pass, reproducible, and verified.
 *
 *   scan tree → (erofs: mkfs.erofs, measure) → size → sparse file + partition table(s) [+ DAX
 *   header] → filesystem at the partition offset → verify → (qcow2: qemu-img convert) → rename
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ensureWritableDir, tmpPathFor, writeAtomic } from '../lib/atomic.js';
import { checkFreeSpace, writingUnder } from '../lib/space.js';
import { withCleanup } from '../lib/cleanup.js';
import type { BuildContext } from '../lib/context.js';
import { InterruptedError, OsbError } from '../lib/errors.js';
import { settledAll, tablesFor, writeDisk, writeTables } from './disk.js';
import { normalizeExt4Times } from './ext4-times.js';
import { erofsCompressor, fillXfs, makeErofs, makeExt4, mkfsXfsArgv } from './filesystems.js';
import { derivedUuid, verityPartitionUuids } from './ids.js';
import { assertTreeFits } from './limits.js';
import { validateOptions, type ImageOptions, type ImageResult } from './options.js';
import { gptRootType, gptRootVerityType } from './partition.js';
import { readScanRecord, sameStats, scanTree, writeScanRecord, type TreeStats } from './scan.js';
import { computeImageSize, type DiskLayout } from './sizing.js';
import { createSparse, copySparse } from './sparse-io.js';
import { MiB } from './types.js';
import { checkFilesystem, verifyAgent, verifyAgentInTree, verifyDisk } from './verify.js';
import { fileDigest, rememberDigest, type FileDigest } from '../lib/hash.js';
import { formatVerity, rootHashFile, VERITY_BLOCK, VERITY_HASH, veritySalt, verifyVerity, type VerityParams } from './verity.js';

export type { FsType, PartitionTable, ImageFormat } from './types.js';
export type { ImageOptions, ImageResult } from './options.js';
export { parseRootHashFile, verityCmdline, verityTable, kernelVerityParams, type VerityParams } from './verity.js';
export { computeImageSize, layoutFor, type SizingInput, type ImageSize, type DiskLayout } from './sizing.js';
export { scanTree, type TreeStats } from './scan.js';

/** Build the image described by `opts` at `opts.output`. In dry-run, print the plan and write nothing. */
export async function buildImage(ctx: BuildContext, opts: ImageOptions): Promise<ImageResult> {
  const o = validateOptions(opts);
  const output = resolve(o.output);
  const rootfsDir = resolve(o.rootfsDir);
  if (ctx.dryRun && !existsSync(rootfsDir)) {
    // The rootfs is built earlier in the same plan: its size, and so every command line, is not known yet.
    ctx.log.info(`would size the image from ${rootfsDir} once it is built, then write ${output} (${o.partitionTable}, ${o.fsType}${o.dax ? ', DAX header' : ''}${o.format === 'qcow2' ? ', qcow2' : ''}) and check it`);
    return { path: output, sizeBytes: 0, partitionOffset: 0, fsType: o.fsType, fsUuid: derivedUuid(o.seed, 'fs-uuid') };
  }
  // Sized from the last scan of this rootfs when there is one, and the tree walked while mkfs
  // runs: the tools start without waiting for the walk. A walk that disagrees sizes again.
  const recorded = ctx.dryRun || !o.scanRecord ? undefined : readScanRecord(o.scanRecord, rootfsDir);
  if (recorded && fits(recorded, o)) {
    const first = await buildFrom(ctx, o, output, rootfsDir, recorded, true);
    if (first.result) return first.result;
    ctx.log.info('the rootfs changed since osb last scanned it: sizing the image again');
    return buildFrom(ctx, o, output, rootfsDir, first.scanned, false).then((r) => r.result!);
  }
  return buildFrom(ctx, o, output, rootfsDir, scanTree(rootfsDir), false).then((r) => r.result!);
}

/**
 * The image from `tree`. When `tree` is a recorded guess, the rootfs is walked beside mkfs (or
 * after a failure) and the image is kept only if the walk agrees; otherwise nothing is renamed
 * into place and the walk is returned, to build from.
 */
async function buildFrom(ctx: BuildContext, o: ImageOptions, output: string, rootfsDir: string, tree: TreeStats, guess: boolean): Promise<{ result?: ImageResult; scanned: TreeStats }> {
  assertTreeFits(tree, o.fsType, o.blockSize);
  if (o.fsType === 'erofs' && o.rootFreeSpaceMiB > 0) ctx.log.warn('erofs is read-only: the root free space asked for is ignored');
  ctx.log.info(`rootfs: ${(tree.fileBytes / MiB).toFixed(1)} MiB in ${tree.fileSizes.length} files, ${tree.directories.length} directories`);
  // Scratch files live beside the output in a directory a later run removes if this one is killed.
  const stage = tmpPathFor(output, '.osb-stage-');
  const paths = (tmp: string): Paths => ({ output, tmp, stage, raw: o.format === 'raw' ? tmp : join(stage, 'disk.raw'), rootfsDir });
  if (ctx.dryRun) return { result: await assemble(ctx, o, tree, paths(tmpPathFor(output))), scanned: tree };
  await ensureWritableDir(dirname(output), 'output directory');
  const digest: { taken?: FileDigest } = {};
  // A full disk, checked once the size is known (in assemble) or met by a tool, is one line.
  const space = { need: 0 };
  let scanned = guess ? undefined : tree;
  const walk = () => (scanned ??= scanTree(rootfsDir));
  // The walk goes beside mkfs, after the SBOM's reading has started.
  const alongside = guess ? () => { o.alongside?.(); setImmediate(walk); } : o.alongside;
  const agrees = () => sameStats(walk(), tree);
  let result: ImageResult | undefined;
  try {
    result = await writingUnder(dirname(output), () => space.need, () => writeAtomic(output, async (tmp) => {
      await mkdir(stage, { recursive: true });
      const r = await withCleanup(() => rm(stage, { recursive: true, force: true }), () => assemble(ctx, { ...o, alongside }, tree, paths(tmp), digest, space));
      // Thrown, so that writeAtomic removes the image sized for another tree.
      if (!agrees()) throw new TreeChanged();
      return r;
    }));
  } catch (e) {
    if (e instanceof TreeChanged || (guess && !(e instanceof InterruptedError) && !agrees())) return { scanned: walk() };
    throw e;
  }
  if (o.scanRecord && !guess) writeScanRecord(o.scanRecord, rootfsDir, tree);
  // The SBOM and the provenance name the image's sha256: taken during the checks, not read again.
  if (digest.taken) await rememberDigest(output, digest.taken);
  return { result, scanned: tree };
}

/** Whether a recorded tree is one this filesystem holds: if not, the tree itself is scanned, and refused by what it is now. */
function fits(tree: TreeStats, o: ImageOptions): boolean {
  try {
    assertTreeFits(tree, o.fsType, o.blockSize);
    return true;
  } catch {
    return false;
  }
}

/** The rootfs is not the tree the image was sized for. */
class TreeChanged extends Error {}

interface Paths {
  readonly output: string;
  /** Where the final format is written before the rename (writeAtomic's temporary). */
  readonly tmp: string;
  readonly stage: string;
  /** The raw disk: `tmp` itself, or a scratch file qemu-img converts from. */
  readonly raw: string;
  readonly rootfsDir: string;
}

function checkpoint(ctx: BuildContext): void {
  if (ctx.signal?.aborted) throw new InterruptedError();
}

/** Every step, writing the raw disk and then the final format; Node-side writes are skipped in dry-run. */
async function assemble(ctx: BuildContext, o: ImageOptions, tree: TreeStats, { output, tmp, stage, raw, rootfsDir }: Paths, digest: { taken?: FileDigest } = {}, space = { need: 0 }): Promise<ImageResult> {
  const dry = ctx.dryRun;
  const fsUuid = derivedUuid(o.seed, 'fs-uuid');
  // Called as the mkfs starts; the spawn is issued before the event loop turns.
  let besideStarted = false;
  const beside = () => {
    if (dry || besideStarted || !o.alongside) return;
    besideStarted = true;
    setImmediate(o.alongside);
  };
  let fsFile: string | undefined;
  let erofsBytes: number | undefined;
  if (o.fsType === 'erofs') {
    fsFile = join(stage, 'root.erofs');
    const compressor = await erofsCompressor(ctx);
    if (!compressor) ctx.log.warn('mkfs.erofs offers no lz4hc: the erofs image is uncompressed');
    const making = makeErofs(ctx, { fsPath: fsFile, rootfsDir, uuid: fsUuid, compressor });
    beside();
    await making;
    // In dry-run nothing was built: the uncompressed size is an upper bound for the plan.
    erofsBytes = dry ? Math.ceil(tree.fileBytes / 4096) * 4096 + tree.directories.length * 4096 : (await stat(fsFile)).size;
    if (!dry) await checkFilesystem(ctx, 'erofs', fsFile);
    checkpoint(ctx);
  }
  const size = computeImageSize({ ...o, tree, erofsBytes });
  const { layout } = size;
  ctx.log.info(`image: ${layout.totalBytes / MiB} MiB (${o.fsType} partition ${layout.partitionBytes / MiB} MiB at ${layout.partitionOffset / MiB} MiB${layout.headerBytes ? ', DAX header' : ''})`);
  // The image is sparse: it takes at most what this rootfs needs (a larger --image-size is holes),
  // once more for each scratch copy beside it (the xfs file, the verity data, the raw for qcow2).
  const written = Math.min(layout.totalBytes, size.neededMiB * MiB);
  space.need = written * (1 + (o.fsType === 'xfs' ? 1 : 0) + (o.measured ? 1 : 0) + (o.format === 'qcow2' ? 1 : 0));
  if (!dry) await checkFreeSpace(dirname(output), space.need);

  if (o.fsType === 'xfs') {
    fsFile = join(stage, 'root.xfs');
    if (!dry) await createSparse(fsFile, layout.partitionBytes);
    const making = ctx.run(mkfsXfsArgv({ fsPath: fsFile, fsBytes: layout.partitionBytes, blockSize: o.blockSize, uuid: fsUuid }));
    beside();
    await making;
    // xfs has no offline reader for the agent check: look while it is mounted.
    await fillXfs(ctx, fsFile, rootfsDir, async (mnt) => verifyAgentInTree(mnt, rootfsDir));
    if (!dry) await checkFilesystem(ctx, 'xfs', fsFile);
    checkpoint(ctx);
  }

  const tables = tablesFor(layout, o.partitionTable, o.seed, gptRootType(o.arch), gptRootVerityType(o.arch));
  if (o.fsType === 'ext4') {
    // Loopless and without a copy: mke2fs writes the filesystem into the image at the offset,
    // while sfdisk writes the tables around it (a dry run says them in order).
    const mkfs = () => makeExt4(ctx, {
      imagePath: raw, offset: layout.partitionOffset, fsBytes: layout.partitionBytes, blockSize: o.blockSize,
      inodes: size.ext4Inodes!, rootfsDir, uuid: fsUuid, hashSeed: derivedUuid(o.seed, 'fs-hash-seed'),
    });
    if (dry) {
      await writeDisk(ctx, raw, layout, tables, o.seed, stage);
      await mkfs();
    } else {
      await createSparse(raw, layout.totalBytes);
      const making = mkfs();
      beside();
      await settledAll([making, writeTables(ctx, raw, layout, tables, o.seed, stage)]);
    }
    if (!dry) await normalizeExt4Times(raw, layout.partitionOffset, ctx.sourceDateEpoch);
  } else {
    await writeDisk(ctx, raw, layout, tables, o.seed, stage);
    if (!dry) await copySparse(fsFile!, 0, layout.partitionBytes, raw, layout.partitionOffset);
    else ctx.log.info(`would copy ${fsFile} into the image at byte ${layout.partitionOffset}`);
  }
  checkpoint(ctx);

  if (!dry) {
    // Read-only checks, run side by side. e2fsprogs tools open a filesystem inside a file with
    // the "?offset=" io option.
    const ext4Target = `${raw}?offset=${layout.partitionOffset}`;
    // A raw image is final once written (verity would write p2 after): hash it beside the checks.
    const final = o.format === 'raw' && !o.measured;
    await Promise.all([
      final && fileDigest(raw).then((d) => (digest.taken = d)),
      verifyDisk(ctx, { imagePath: raw, layout, fsType: o.fsType, ...tables }),
      o.fsType === 'ext4' && checkFilesystem(ctx, 'ext4', ext4Target),
      o.fsType !== 'xfs' && verifyAgent(ctx, o.fsType, o.fsType === 'ext4' ? ext4Target : fsFile!, rootfsDir),
    ]);
  }
  const verity = o.measured ? await writeVerity(ctx, o, layout, raw, stage) : undefined;
  if (o.format === 'qcow2') {
    await ctx.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, tmp]);
    if (!dry) await ctx.run(['qemu-img', 'check', '-q', '-f', 'qcow2', tmp], { readOnly: true });
  }
  return { path: output, sizeBytes: layout.totalBytes, partitionOffset: layout.partitionOffset, fsType: o.fsType, fsUuid, ...(verity ? { verity } : {}) };
}

/**
 * The measured rootfs: veritysetup hashes a copy of the finished root partition (it takes no
 * data offset) into a scratch file, checks it back, and the tree is copied into p2. The root
 * hash file is written only once the tree verifies.
 */
async function writeVerity(ctx: BuildContext, o: ImageOptions, layout: DiskLayout, raw: string, stage: string): Promise<VerityParams> {
  const data = join(stage, 'root.data');
  const hash = join(stage, 'root.verity');
  const dataBlocks = layout.partitionBytes / VERITY_BLOCK;
  const salt = veritySalt(o.seed);
  if (!ctx.dryRun) {
    await createSparse(data, layout.partitionBytes);
    await copySparse(raw, layout.partitionOffset, layout.partitionBytes, data, 0);
  }
  else ctx.log.info(`would copy the root partition to ${data} for veritysetup`);
  const rootHash = await formatVerity(ctx, data, hash, { dataBlocks, salt });
  const p: VerityParams = { rootHash, salt, dataBlocks, dataBlockSize: VERITY_BLOCK, hashBlockSize: VERITY_BLOCK, hashAlgorithm: VERITY_HASH };
  if (!ctx.dryRun) {
    const treeBytes = (await stat(hash)).size;
    if (treeBytes > layout.hashBytes) throw new OsbError(`the dm-verity hash tree (${treeBytes} bytes) is larger than its partition (${layout.hashBytes} bytes)`, 'this is a bug in osb; please report it with the log');
    await copySparse(hash, 0, treeBytes, raw, layout.hashOffset);
    await verifyVerity(ctx, data, hash, p);
  }
  // The DPS convention: on GPT, the root partition's UUID is the first 128 bits of the root hash
  // and the verity partition's the last 128, so systemd-dissect --root-hash= finds the pair.
  // Neither UUID is hashed by verity, so the root hash stays what it is.
  if (o.partitionTable === 'gpt') {
    const [rootUuid, verityUuid] = verityPartitionUuids(rootHash);
    await ctx.run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', '--part-uuid', raw, '1', rootUuid]);
    await ctx.run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', '--part-uuid', raw, '2', verityUuid]);
  }
  if (o.rootHashOutput) {
    if (ctx.dryRun) ctx.log.info(`would write the root hash and kernel parameters to ${o.rootHashOutput}`);
    else await writeAtomic(o.rootHashOutput, async (tmp) => writeFile(tmp, rootHashFile(p)));
  }
  if (!ctx.dryRun) ctx.log.info(`dm-verity root hash ${rootHash} (salt from the inputs)`);
  return p;
}
