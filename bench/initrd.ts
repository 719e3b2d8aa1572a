/**
 * osb initrd against Kata's initrd_builder.sh pipeline, in the same run on the same rootfs.
 *   npx tsc -p tsconfig.build.json && node dist/bench/initrd.js [RUNS]
 * Goals: the default (zstd) in <= 0.1x the time of `find . | cpio -H newc -o | gzip -9` and no
 * bigger; `--compression none` within 1.5x of `find . | cpio -H newc -o` alone.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inTempDir, measure, runAsScript, type BenchRow, type Measured } from './lib.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The command that builds an initrd with osb. Until `osb initrd` exists, a thin driver around buildInitrd. */
/** The CLI as users run it; --no-deps: the rootfs is the benchmark's own Debian tree. */
const OSB = `${process.execPath} ${join(HERE, '..', 'tasks', 'main.js')} initrd --no-deps`;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const mib = (kib: number | undefined) => (kib ? `${(kib / 1024).toFixed(0)} MiB` : '?');

export async function benchInitrd(rootfs: string, runs: number): Promise<BenchRow[]> {
  return inTempDir('initrd', async (work) => {
    const out = (name: string) => join(work, name);
    const osb = (c: string) => `${OSB} --rootfs-dir ${q(rootfs)} --workdir ${q(work)} --initrd-name osb-${c}.img --compression ${c} --agent-init > /dev/null`;
    // Kata's tools/osbuilder/initrd-builder/initrd_builder.sh, minus sudo.
    const kata = measure(runs, `find . | cpio --quiet -H newc -o | gzip -9 > ${q(out('kata.img'))}`, out('kata.img'), rootfs);
    const cpio = measure(runs, `find . | cpio --quiet -H newc -o > ${q(out('plain.cpio'))}`, out('plain.cpio'), rootfs);
    const zstdPipe = measure(runs, `find . | cpio --quiet -H newc -o | zstd -T0 -q > ${q(out('pipe.zst'))}`, out('pipe.zst'), rootfs);
    const osbZstd = measure(runs, osb('zstd'), out('osb-zstd.img'));
    const osbGzip = measure(runs, osb('gzip'), out('osb-gzip.img'));
    const osbNone = measure(runs, osb('none'), out('osb-none.img'));
    const sizes = (m: Measured, base: Measured) => `size ${mb(m.bytes)} vs ${mb(base.bytes)} (${(m.bytes / base.bytes).toFixed(3)}x), peak RSS ${mib(m.maxRssKiB)}`;
    return [
      { name: 'kata initrd_builder.sh (find | cpio | gzip -9)', median: kata.median, runs, extra: `size ${mb(kata.bytes)}, peak RSS ${mib(kata.maxRssKiB)}` },
      { name: 'osb initrd (default: zstd)', median: osbZstd.median, runs, baseline: 'kata gzip -9', baselineMedian: kata.median, goal: '<= 0.1x, size <= kata', extra: sizes(osbZstd, kata) },
      { name: 'osb initrd --compression gzip', median: osbGzip.median, runs, baseline: 'kata gzip -9', baselineMedian: kata.median, goal: 'size <= kata', extra: sizes(osbGzip, kata) },
      { name: 'osb initrd (default: zstd)', median: osbZstd.median, runs, baseline: 'find | cpio | zstd -T0', baselineMedian: zstdPipe.median, extra: sizes(osbZstd, zstdPipe) },
      { name: 'osb initrd --compression none', median: osbNone.median, runs, baseline: 'find | cpio', baselineMedian: cpio.median, goal: '<= 1.5x', extra: sizes(osbNone, cpio) },
    ];
  });
}

await runAsScript(import.meta.url, benchInitrd);
