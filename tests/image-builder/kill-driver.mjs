// Runs buildImage in a process of its own so a test can SIGKILL it mid-build.
// usage: node kill-driver.mjs COMPILED_DIR ROOTFS OUTPUT   (COMPILED_DIR: image-builder/ and lib/ compiled by tsc)
const [compiled, rootfsDir, output] = process.argv.slice(2);
const { buildImage } = await import(`${compiled}/image-builder/index.js`);
const { createRunner } = await import(`${compiled}/lib/run.js`);
const { silentReporter } = await import(`${compiled}/lib/log.js`);
const sourceDateEpoch = 1_700_000_000;
const ctx = { workdir: rootfsDir, log: silentReporter, run: createRunner({ reporter: silentReporter, sourceDateEpoch }), dryRun: false, sourceDateEpoch, jobs: 1 };
await buildImage(ctx, { rootfsDir, output, fsType: 'ext4', blockSize: 4096, rootFreeSpaceMiB: 0, partitionTable: 'mbr', dax: true, format: 'raw', seed: 'dead' });
process.stdout.write('done\n');
