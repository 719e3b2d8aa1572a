/**
 * A minimal command around buildInitrd for the benchmark, until `osb initrd` is wired:
 *   node dist/bench/initrd-driver.js --rootfs-dir DIR --output FILE --compression C [--level N]
 * Same work as the CLI's initrd target (agent as /init, read back), without the task graph.
 */
import { buildInitrd, parseCompression } from '../initrd-builder/index.js';
import { consoleReporter } from '../lib/log.js';
import { createRunner } from '../lib/run.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const rootfsDir = arg('rootfs-dir');
const output = arg('output');
if (!rootfsDir || !output) {
  process.stderr.write('usage: initrd-driver --rootfs-dir DIR --output FILE [--compression C] [--level N]\n');
  process.exit(2);
}
const reporter = consoleReporter('initrd-driver: ');
const sourceDateEpoch = Number(process.env.SOURCE_DATE_EPOCH ?? 1_700_000_000);
const level = arg('level');
try {
  await buildInitrd(
    { workdir: process.cwd(), log: { ...reporter, info() {} }, run: createRunner({ reporter, sourceDateEpoch }), dryRun: false, sourceDateEpoch, jobs: 2 },
    { rootfsDir, output, compression: parseCompression(arg('compression') ?? 'zstd'), agentInit: true, level: level === undefined ? undefined : Number(level) },
  );
} catch (e) {
  process.stderr.write(`initrd-driver: ${(e as Error).message}\n`);
  process.exit(1);
}
