// Runs buildImage in a process of its own so a test can kill it mid-build. Signals are handled
// as tasks/main.ts does: abort the build, run the registered cleanups, exit 130/143.
// usage: node kill-driver.mjs COMPILED_DIR ROOTFS OUTPUT [FS_TYPE]
//   COMPILED_DIR: image-builder/ and lib/ compiled by tsc
const [compiled, rootfsDir, output, fsType = 'ext4'] = process.argv.slice(2);
const { buildImage } = await import(`${compiled}/image-builder/index.js`);
const { createRunner } = await import(`${compiled}/lib/run.js`);
const { silentReporter } = await import(`${compiled}/lib/log.js`);
const { runCleanups } = await import(`${compiled}/lib/cleanup.js`);
const ac = new AbortController();
// process.on, not once: execa's exit hook (signal-exit) re-raises a signal nobody else listens to.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (ac.signal.aborted) return;
    ac.abort(sig);
    void runCleanups().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
const sourceDateEpoch = 1_700_000_000;
const run = createRunner({ reporter: silentReporter, sourceDateEpoch, signal: ac.signal });
const ctx = { workdir: rootfsDir, log: silentReporter, run, dryRun: false, sourceDateEpoch, jobs: 1, signal: ac.signal };
try {
  await buildImage(ctx, { rootfsDir, output, fsType, blockSize: 4096, rootFreeSpaceMiB: 0, partitionTable: 'mbr', dax: true, format: 'raw', seed: 'dead' });
  process.stdout.write('done\n');
} catch (e) {
  if (ac.signal.aborted) await new Promise(() => {}); // the signal handler exits
  await runCleanups();
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
