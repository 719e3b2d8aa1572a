/**
 * The initrd target: a reproducible, streamed cpio newc archive of the rootfs, compressed.
 *
 * scan (metadata of every entry) -> sort and number -> stream headers and file data in chunks ->
 * encoder -> temporary file -> read back -> rename into place.
 */
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, relative, resolve, isAbsolute } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { writeAtomic } from '../lib/atomic.js';
import { fileDigest, rememberDigest, writtenDigest, type FileDigest } from '../lib/hash.js';
import { checkFreeSpace, compressedEstimate, writingUnder } from '../lib/space.js';
import type { BuildContext } from '../lib/context.js';
import { InternalError, OsbError, UsageError } from '../lib/errors.js';
import { COMPRESSIONS, DEFAULT_COMPRESSION, chooseEncoder, describeEncoder, encoderArgv, parseCompression, type Compression, type Encoder } from './compress.js';
import { ensureInit } from './init-entry.js';
import { planEntries, type PlannedEntry } from './plan.js';
import { scanTree, sortEntries, type ArchiveEntry } from './scan.js';
import { TreePrint } from '../lib/tree-fingerprint.js';
import type { StreamStats } from './stream.js';
import { readBack, streamCheck } from './verify.js';
import { writeArchive } from './write.js';

export { COMPRESSIONS, DEFAULT_COMPRESSION, parseCompression, type Compression };
export { readBack, NewcReader } from './verify.js';

export interface InitrdOptions {
  /** The rootfs tree to archive. It is only read, never changed. */
  readonly rootfsDir: string;
  /** Final path of the initrd (e.g. `workdir/osb-initrd.img`); written atomically. */
  readonly output: string;
  /** How to compress the archive. @default DEFAULT_COMPRESSION ('zstd'); the CLI fills it in */
  readonly compression: Compression;
  /** Force every entry to this owner (`--owner 0:0`), e.g. for a rootfs built without root. @default the owners in the rootfs */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /**
   * When the rootfs has no /init, add the symlink /init -> /sbin/init to the archive (the agent,
   * as Kata's AGENT_INIT=yes installs it). The rootfs itself is never touched.
   */
  readonly agentInit: boolean;
  /** Trees laid over the rootfs (`--initrd-extra DIR`), later ones last; their entries win. @default [] */
  readonly extraDirs?: readonly string[];
  /** Compressor level (`-N`). @default the compressor's own (zstd 3, gzip 6, xz 6, lz4 1) */
  readonly level?: number;
  /** Read the written initrd back before renaming it into place. @default true */
  readonly verify?: boolean;
}

export interface InitrdResult {
  /** The initrd's final path. */
  readonly path: string;
  /** Entries in the archive (the trailer not counted); 0 in --dry-run when the rootfs is not built yet. */
  readonly entries: number;
  /** Size of the initrd file (compressed); 0 in --dry-run. */
  readonly bytes: number;
  readonly compression: Compression;
}

function checkOptions(opts: InitrdOptions): Encoder {
  const encoder = chooseEncoder(parseCompression(opts.compression), opts.level);
  if (opts.owner) {
    for (const v of [opts.owner.uid, opts.owner.gid]) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new UsageError(`invalid owner ${opts.owner.uid}:${opts.owner.gid}`, 'pass --owner UID:GID with numeric ids, e.g. --owner 0:0');
    }
  }
  const out = resolve(opts.output);
  for (const dir of [opts.rootfsDir, ...(opts.extraDirs ?? [])]) {
    const rel = relative(resolve(dir), out);
    if (!rel.startsWith('..') && !isAbsolute(rel)) {
      throw new UsageError(`the initrd ${opts.output} would be inside ${dir}, which is archived`, 'write the initrd outside the rootfs, e.g. into the workdir');
    }
  }
  return encoder;
}

/** Scan the rootfs and the extra trees, add /init if asked, and number the entries. */
function requireRootfs(opts: InitrdOptions): void {
  if (!existsSync(opts.rootfsDir)) {
    throw new OsbError(`rootfs directory ${opts.rootfsDir} does not exist`, 'build it first (`osb rootfs`), or point --rootfs-dir at one');
  }
}

function planArchive(ctx: BuildContext, opts: InitrdOptions): PlannedEntry[] {
  requireRootfs(opts);
  const entries = new Map<string, ArchiveEntry>();
  const scan = { sourceDateEpoch: ctx.sourceDateEpoch, warn: (m: string) => ctx.log.warn(m), signal: ctx.signal };
  // The scan lstats every entry anyway: it is also what the engine records of the tree.
  const print = ctx.treeSeen ? new TreePrint() : undefined;
  scanTree(opts.rootfsDir, entries, { ...scan, print }, 'the rootfs');
  if (print) ctx.treeSeen!(opts.rootfsDir, () => print.digest());
  for (const extra of opts.extraDirs ?? []) scanTree(extra, entries, scan, `--initrd-extra ${extra}`);
  ensureInit(entries, opts.agentInit, { mtime: ctx.sourceDateEpoch });
  return planEntries(sortEntries(entries.values()), { owner: opts.owner });
}

/** How the archive is compressed and read back, for the log and --dry-run. */
function describe(encoder: Encoder, opts: InitrdOptions, check: readonly string[] | undefined): string {
  const walked = opts.compression === 'zstd' && (opts.verify ?? true);
  return `${describeEncoder(encoder, check)}${walked ? ', its frames walked to the end once written' : ''}`;
}

/** Build the initrd at `opts.output`. Nothing appears under that name unless it is complete and read back. */
export async function buildInitrd(ctx: BuildContext, opts: InitrdOptions): Promise<InitrdResult> {
  const encoder = checkOptions(opts);
  const compression = opts.compression;
  const sources = [opts.rootfsDir, ...(opts.extraDirs ?? [])].join(' + ');
  if (ctx.dryRun) {
    // The rootfs may not be built yet in a dry run; when it is, the count (and /init) is real.
    const planned = existsSync(opts.rootfsDir) ? planArchive(ctx, opts).length : 0;
    const check = opts.verify ?? true ? streamCheck(compression) : undefined;
    ctx.log.info(`would write ${opts.output}: cpio newc archive of ${sources}${planned ? ` (${planned} entries)` : ''}, ${describe(encoder, opts, check)}`);
    if (encoder.kind === 'tool' && check) for (const argv of [encoder.stdoutArgv, check]) await ctx.run.feed(argv, () => Readable.from([]));
    else if (encoder.kind === 'tool') await ctx.run.feed(encoderArgv(encoder, opts.output), () => Readable.from([]), encoder.fileArg ? {} : { stdoutFile: opts.output });
    return { path: opts.output, entries: planned, bytes: 0, compression };
  }

  const started = performance.now();
  const elapsed = () => `${Math.round(performance.now() - started)} ms`;
  requireRootfs(opts);
  const dir = dirname(resolve(opts.output));
  await mkdir(dir, { recursive: true });
  const stats: StreamStats = { entries: 0, bytes: 0 };
  // The cpio's size is known from the plan (110-byte headers, names and data, 4-byte aligned).
  let plan: readonly PlannedEntry[] = [];
  let digest: FileDigest | undefined;
  const need = () => compressedEstimate(plan.reduce((n, p) => n + 112 + p.entry.name.length + p.entry.size + 4, 512), compression);
  // As in `find | cpio | zstd`, the compressor starts first and waits for the archive while the
  // tree is scanned and sorted; the free space is checked once the plan says how much is needed.
  // xz and lz4 are checked by their own `-t` and hashed as they are written. zstd writes the file
  // itself, no byte of it through Node; its frames are walked and it is hashed after.
  const check = opts.verify ?? true ? streamCheck(compression) : undefined;
  const planned = async (): Promise<readonly PlannedEntry[]> => {
    plan = planArchive(ctx, opts);
    ctx.log.debug(`scanned and sorted ${plan.length} entries after ${elapsed()}`);
    ctx.log.info(`archiving ${plan.length} entries of ${sources} (${describe(encoder, opts, check)})`);
    await checkFreeSpace(dir, need());
    return plan;
  };
  await writingUnder(dir, () => (plan.length ? need() : 0), () => writeAtomic(opts.output, async (tmp) => {
    const sha256 = await writeArchive(ctx, encoder, planned, stats, tmp, check);
    if (stats.entries !== plan.length) throw new InternalError(`wrote ${stats.entries} of ${plan.length} initrd entries`);
    ctx.log.debug(`wrote ${stats.bytes} bytes of cpio after ${elapsed()}`);
    if (sha256) return void (digest = await writtenDigest(tmp, sha256));
    // The digest the SBOM and provenance name is taken beside the read-back, not after it.
    const [back, d] = await Promise.all([opts.verify ?? true ? readBack(ctx, tmp, compression) : undefined, fileDigest(tmp)]);
    if (back && back.entries !== stats.entries) {
      throw new OsbError(`the initrd just written reads back ${back.entries} entries, ${stats.entries} were written`, 'check free space and the disk, then build again');
    }
    digest = d;
  }));
  if (digest) await rememberDigest(opts.output, digest);
  ctx.log.debug(`read back and renamed into place after ${elapsed()}`);
  const bytes = (await stat(opts.output)).size;
  ctx.log.info(`wrote ${opts.output}: ${stats.entries} entries, ${stats.bytes} bytes of cpio, ${bytes} bytes ${compression === 'none' ? 'uncompressed' : compression}`);
  return { path: opts.output, entries: stats.entries, bytes, compression };
}
