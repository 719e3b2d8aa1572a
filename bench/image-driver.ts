/**
 * Drive buildImage from the command line until `osb image` exists (bench/image.ts and the
 * SIGKILL test use it): node dist/bench/image-driver.js ROOTFS OUTPUT [key=value ...]
 * keys: fs, bs, free, size, table, dax (yes|no), format, seed, epoch.
 */
import { consoleReporter, silentReporter } from '../lib/log.js';
import { createRunner } from '../lib/run.js';
import { buildImage } from '../image-builder/index.js';
import type { FsType, ImageFormat, PartitionTable } from '../image-builder/index.js';
import { OsbError } from '../lib/errors.js';
import { runCleanups } from '../lib/cleanup.js';
import { dirname, join } from 'node:path';

const [rootfsDir, output, ...rest] = process.argv.slice(2);
if (!rootfsDir || !output) {
  process.stderr.write('usage: image-driver ROOTFS OUTPUT [fs=ext4] [bs=4096] [free=0] [size=MiB] [table=mbr] [dax=yes] [format=raw] [seed=HEX] [epoch=N] [verbose=1]\n');
  process.exit(2);
}
const kv = Object.fromEntries(rest.map((a) => a.split('=', 2) as [string, string]));
const epoch = Number(kv.epoch ?? 1700000000);
const reporter = kv.verbose ? consoleReporter('image: ') : silentReporter;
const ac = new AbortController();
// process.on, not once: execa's exit hook (signal-exit) re-raises a signal nobody else listens to.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (ac.signal.aborted) return;
    ac.abort();
    void runCleanups().finally(() => process.exit(130));
  });
}
const ctx = {
  workdir: dirname(output),
  log: reporter,
  run: createRunner({ reporter, sourceDateEpoch: epoch, logPath: join(dirname(output), 'image-driver.log'), signal: ac.signal }),
  dryRun: kv.dry === '1',
  sourceDateEpoch: epoch,
  jobs: 1,
  signal: ac.signal,
};
try {
  const r = await buildImage(ctx, {
    rootfsDir,
    output,
    fsType: (kv.fs ?? 'ext4') as FsType,
    blockSize: Number(kv.bs ?? 4096),
    rootFreeSpaceMiB: Number(kv.free ?? 0),
    imageSizeMiB: kv.size === undefined ? undefined : Number(kv.size),
    partitionTable: (kv.table ?? 'mbr') as PartitionTable,
    dax: (kv.dax ?? 'yes') === 'yes',
    format: (kv.format ?? 'raw') as ImageFormat,
    seed: kv.seed ?? 'a1b2c3',
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
} catch (e) {
  await runCleanups();
  process.stderr.write(`error: ${(e as Error).message}\n${e instanceof OsbError && e.hint ? `hint: ${e.hint}\n` : ''}`);
  process.exit(1);
}
