/**
 * osb initrd against Kata's own initrd_builder.sh (bench/kata.ts) and the plain pipelines, in the
 * same run on the same rootfs: the slim Debian guest `osb rootfs --distro debian --agent-init`
 * builds, each pair taking turns.
 *   npx tsc -p tsconfig.build.json && node dist/bench/initrd.js [RUNS]
 * Goals (issue 28): the default (zstd) <= 0.1x Kata's gzip -9 initrd and no bigger, <= 1.2x
 * `find | cpio -H newc | zstd -T0`; `--compression none` <= 1.5x `find | cpio`; from osb's start
 * to its compressor <= 2x `node -e 0`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { EXTRA_CA_SET, firstToolTime, nodeStartTime } from './first-tool.js';
import { kataScripts, KATA_COMMIT } from './kata.js';
import { inTempDir, measureInterleaved, perRoundRatio, runAsScript, timeShell, OSB, OSB_VIA_NODE, type BenchRow, type Measured } from './lib.js';
import { slimWorkdir } from './slim-rootfs.js';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const mib = (kib: number | undefined) => (kib ? `${(kib / 1024).toFixed(0)} MiB` : '?');

export async function benchInitrd(_rootfs: string, runs: number): Promise<BenchRow[]> {
  return inTempDir('initrd', async (work) => {
    const slim = slimWorkdir(work, OSB);
    const out = (name: string) => join(work, name);
    const kata = kataScripts(work);
    // Kata's script adds /init (a link to /sbin/init) to the rootfs it is given: once, untimed,
    // so that every contender archives the same tree.
    timeShell(kata.initrd(out('kata.img'), slim.rootfs));
    const osb = (c: string, name = `osb-${c}.img`, cli = OSB) => `${cli} initrd ${slim.args} --initrd-name ${name} --compression ${c} > /dev/null`;
    const osbOut = (c: string) => join(slim.workdir, `osb-${c}.img`);
    const [kataGzip, osbZstd, zstdPipe, osbGzip, cpio, osbNone, osbZstdViaNode] = measureInterleaved(runs, [
      { cmd: kata.initrd(out('kata.img'), slim.rootfs), out: out('kata.img') },
      { cmd: osb('zstd'), out: osbOut('zstd') },
      { cmd: `find . | cpio --quiet -H newc -o | zstd -T0 -q > ${q(out('pipe.zst'))}`, out: out('pipe.zst'), cwd: slim.rootfs },
      { cmd: osb('gzip'), out: osbOut('gzip') },
      { cmd: `find . | cpio --quiet -H newc -o > ${q(out('plain.cpio'))}`, out: out('plain.cpio'), cwd: slim.rootfs },
      { cmd: osb('none'), out: osbOut('none') },
      ...(EXTRA_CA_SET ? [{ cmd: osb('zstd', 'osb-zstd-node.img', OSB_VIA_NODE), out: join(slim.workdir, 'osb-zstd-node.img') }] : []),
    ]) as [Measured, Measured, Measured, Measured, Measured, Measured, Measured?];
    const sizes = (m: Measured, base: Measured) => `size ${mb(m.bytes)} vs ${mb(base.bytes)} (${(m.bytes / base.bytes).toFixed(3)}x), peak RSS ${mib(m.maxRssKiB)}`;
    const node = nodeStartTime(Math.max(runs, 9));
    const first = firstToolTime(Math.max(runs, 9), [OSB, 'initrd', ...slim.args.split(' '), '--initrd-name', 'osb-zstd.img', '--compression', 'zstd'], ['zstd'], () => rmSync(osbOut('zstd'), { force: true }));
    const kataName = `Kata's initrd_builder.sh (${KATA_COMMIT.slice(0, 10)}: find | cpio | gzip -9)`;
    return [
      { name: `${kataName}, slim Debian rootfs`, median: kataGzip.median, runs, extra: `size ${mb(kataGzip.bytes)}, peak RSS ${mib(kataGzip.maxRssKiB)}` },
      { name: 'osb initrd (default: zstd; with SBOM and provenance)', median: osbZstd.median, runs, baseline: kataName, baselineMedian: kataGzip.median, goal: '<= 0.1x, size <= Kata', extra: sizes(osbZstd, kataGzip) },
      { name: 'osb initrd (default: zstd)', median: osbZstd.median, runs, baseline: 'find | cpio -H newc | zstd -T0', baselineMedian: zstdPipe.median, goal: '<= 1.2x', extra: `${sizes(osbZstd, zstdPipe)}, ${perRoundRatio(osbZstd.seconds!, zstdPipe.seconds!)}` },
      { name: 'osb initrd --compression gzip', median: osbGzip.median, runs, baseline: kataName, baselineMedian: kataGzip.median, goal: 'size <= Kata', extra: sizes(osbGzip, kataGzip) },
      { name: 'osb initrd --compression none', median: osbNone.median, runs, baseline: 'find | cpio', baselineMedian: cpio.median, goal: '<= 1.5x', extra: `${sizes(osbNone, cpio)}, ${perRoundRatio(osbNone.seconds!, cpio.seconds!)}` },
      { name: `osb initrd: start to its first tool (${first.tool})`, median: first.median, runs: Math.max(runs, 9), baseline: 'node -e 0', baselineMedian: node, goal: '<= 2x' },
      ...(osbZstdViaNode
        ? [{ name: 'osb initrd (default: zstd), run as `node main.cjs`: Node parses this machine\'s NODE_EXTRA_CA_CERTS at its start', median: osbZstdViaNode.median, runs, baseline: 'find | cpio -H newc | zstd -T0', baselineMedian: zstdPipe.median, extra: `${perRoundRatio(osbZstdViaNode.seconds!, zstdPipe.seconds!)}; node -e 0 ${node.toFixed(3)} s with it, ${nodeStartTime(Math.max(runs, 9), true).toFixed(3)} s without` }]
        : []),
    ];
  });
}

await runAsScript(import.meta.url, benchInitrd);
