/**
 * `npm run bench`: whole commands, several runs each, medians, and the ratio against the plain
 * tool measured in the same run. Prints one line per comparison; never asserts.
 *
 *   npm run bench                  # everything (about 15 minutes on 2 cores)
 *   npm run bench -- help initrd   # only some sections: help rootfs image initrd oci squashfs arm64 kernel boot
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import tmp from 'tmp';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatRow, median, medianOf, type BenchRow } from './lib.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OSB_CLI = `${process.execPath} ${join(ROOT, 'dist', 'tasks', 'main.js')}`;
const CACHE = process.env.OSB_TEST_CACHE ?? '/var/cache/osb-test';
const MIRROR = process.env.OSB_TEST_MIRROR ?? 'http://deb.debian.org/debian';
const RUNS = Number(process.env.OSB_BENCH_RUNS ?? 5);

// Scratch directories go away even when a benchmark throws or is interrupted.
tmp.setGracefulCleanup();
const scratchDir = (prefix: string): string => tmp.dirSync({ prefix, unsafeCleanup: true }).name;

function print(rows: readonly BenchRow[]): void {
  for (const r of rows) process.stdout.write(`${formatRow(r)}\n`);
}

function benchHelp(): BenchRow[] {
  const r = medianOf(15, `${OSB_CLI} --help > /dev/null`);
  return [{ name: 'osb --help startup', median: r.median, runs: 15, goal: '<= 0.25 s' }];
}

/** osb rootfs (cold: empty package cache) against plain mmdebstrap on the same mirror. */
function benchRootfs(): BenchRow[] {
  const runs = Math.max(3, Math.min(RUNS, 3));
  const scratch = scratchDir('osb-bench-rootfs-');
  try {
    const plain = medianOf(runs, `mmdebstrap --variant=minbase --mode=root --quiet bookworm ${scratch}/plain ${MIRROR}`, () => rmSync(`${scratch}/plain`, { recursive: true, force: true }));
    const osbCold = medianOf(runs, `${OSB_CLI} rootfs --agent-init --workdir ${scratch}/wd --mirror ${MIRROR} > /dev/null`, () => rmSync(`${scratch}/wd`, { recursive: true, force: true }));
    // Warm cache, then time rebuilds that each change EXTRA_PKGS.
    const times: number[] = [];
    const pkgs = ['less', 'procps', 'iproute2', 'netbase', 'kmod'];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      execFileSync(process.execPath, [join(ROOT, 'dist/tasks/main.js'), 'rootfs', '--agent-init', '--workdir', `${scratch}/wd`, '--mirror', MIRROR, '--extra-pkgs', pkgs[i % pkgs.length]!], { stdio: 'ignore' });
      times.push((performance.now() - t0) / 1000);
    }
    return [
      { name: 'osb rootfs --distro debian (cold cache)', median: osbCold.median, runs, baseline: 'mmdebstrap --variant=minbase', baselineMedian: plain.median, goal: '<= 1.05x' },
      { name: 'osb rootfs after an EXTRA_PKGS change', median: median(times), runs, baseline: 'osb rootfs cold', baselineMedian: osbCold.median, goal: '<= 0.5x' },
    ];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * aarch64 rootfs on this x86_64 host (package scripts under qemu-user via binfmt_misc), cold:
 * a fresh workdir and an empty cache dir (no base tree, no debs), against the same mmdebstrap
 * line by hand, alternating so both see the same mirror and machine load.
 */
function benchArm64(): BenchRow[] {
  const runs = 3;
  const scratch = scratchDir('osb-bench-arm64-');
  const plainTimes: number[] = [];
  const osbTimes: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      rmSync(`${scratch}/plain`, { recursive: true, force: true });
      plainTimes.push(medianOf(1, `mmdebstrap --variant=minbase --arch=arm64 --mode=root --quiet bookworm ${scratch}/plain ${MIRROR}`).median);
      rmSync(`${scratch}/wd`, { recursive: true, force: true });
      rmSync(`${scratch}/cache`, { recursive: true, force: true });
      osbTimes.push(medianOf(1, `${OSB_CLI} rootfs --arch aarch64 --agent-init --workdir ${scratch}/wd --cache-dir ${scratch}/cache --mirror ${MIRROR} > /dev/null`).median);
    }
    return [{ name: 'osb rootfs --arch aarch64 --agent-init (cold: empty cache dir)', median: median(osbTimes), runs, baseline: 'mmdebstrap --variant=minbase --arch=arm64', baselineMedian: median(plainTimes), goal: '<= 1.05x' }];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Cold kernel build once (fresh O= dir, source already unpacked), then no-op rebuilds. */
function benchKernel(): BenchRow[] {
  const scratch = scratchDir('osb-bench-kernel-');
  const args = `kernel --workdir ${scratch} --cache-dir ${CACHE}/osb-cache`;
  try {
    const cold = medianOf(1, `${OSB_CLI} ${args} > /dev/null`);
    const noop = medianOf(RUNS, `${OSB_CLI} ${args} > /dev/null`);
    const size = statSync(join(scratch, 'vmlinuz.container')).size;
    return [
      { name: 'osb kernel (cold, osb guest config, linux-source-6.1)', median: cold.median, runs: 1, extra: `bzImage ${(size / 1048576).toFixed(1)} MiB` },
      { name: 'osb kernel (no-op, up to date)', median: noop.median, runs: RUNS, goal: 'well under 1 s' },
    ];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function readySeconds(out: string): number {
  const m = /ready after (\d+\.\d+) s/.exec(out);
  if (!m) throw new Error(`no ready line in:\n${out}`);
  return Number(m[1]);
}

/** Boot-to-ready with osb's kernel against Debian's distribution kernel, same initrd, TCG. */
function benchBoot(): BenchRow[] {
  const distro = existsSync('/boot') ? readdirSync('/boot').filter((n) => /^vmlinuz-.*-amd64$/.test(n)).sort().pop() : undefined;
  const scratch = scratchDir('osb-bench-boot-');
  const kernelWd = join(CACHE, 'kernel-workdir');
  try {
    execFileSync(process.execPath, [join(ROOT, 'dist/tasks/main.js'), 'kernel', '--workdir', kernelWd, '--cache-dir', `${CACHE}/osb-cache`], { stdio: 'ignore' });
    const common = ['--agent-init', '--workdir', scratch, '--cache-dir', `${CACHE}/osb-cache`, '--mirror', MIRROR, '--no-dax'];
    const boot = (extra: string[]) =>
      readySeconds(execFileSync(process.execPath, [join(ROOT, 'dist/tasks/main.js'), 'boot', ...common, ...extra], { encoding: 'utf8', env: { ...process.env, CI: 'true' } }));
    const osbKernel = join(kernelWd, 'vmlinuz.container');
    const sample = (extra: string[]) => median(Array.from({ length: RUNS }, () => boot(extra)));
    const initrd = sample(['--initrd', '--kernel', osbKernel]);
    const image = sample(['--image', '--kernel', osbKernel]);
    const rows: BenchRow[] = [];
    if (distro) {
      const d = sample(['--initrd', '--kernel', join('/boot', distro)]);
      rows.push({ name: "boot to ready, initrd, osb's kernel (TCG)", median: initrd, runs: RUNS, baseline: `Debian's ${distro}`, baselineMedian: d, goal: '<= 0.3x' });
    } else {
      rows.push({ name: "boot to ready, initrd, osb's kernel (TCG)", median: initrd, runs: RUNS, extra: 'apt-get install linux-image-amd64 for the comparison' });
    }
    rows.push({ name: "boot to ready, ext4 image over virtio-blk, osb's kernel (TCG)", median: image, runs: RUNS });
    return rows;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const want = new Set(process.argv.slice(2));
  const on = (s: string) => want.size === 0 || want.has(s);
  process.stdout.write(`osb benchmarks: medians of ${RUNS} runs unless said (OSB_BENCH_RUNS to change)\n`);
  if (on('help')) print(benchHelp());
  if (on('rootfs')) print(benchRootfs());
  if (on('image') || on('initrd')) {
    const { debianRootfs } = await import('./debian-rootfs.js');
    const rootfs = debianRootfs();
    if (on('image')) print(await (await import('./image.js')).benchImage(rootfs, RUNS));
    if (on('initrd')) print(await (await import('./initrd.js')).benchInitrd(rootfs, RUNS));
  }
  if (on('oci') || on('squashfs')) {
    const { debianRootfs } = await import('./debian-rootfs.js');
    const { benchOci, benchSquashfs } = await import('./oci.js');
    if (on('oci')) print(benchOci(debianRootfs(), RUNS));
    if (on('squashfs')) print(benchSquashfs(debianRootfs(), RUNS));
  }
  if (on('arm64')) print(benchArm64());
  if (on('kernel')) print(benchKernel());
  if (on('boot')) print(benchBoot());
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
