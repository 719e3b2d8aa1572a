/**
 * `npm run bench`: whole commands, several runs each, medians, and the ratio against the plain
 * tool measured in the same run. Prints one line per comparison; never asserts.
 *
 *   npm run bench                  # everything (about 15 minutes on 2 cores)
 *   npm run bench -- help initrd   # only some sections: help noop rootfs rpm image-build image initrd oci squashfs publish parent arm64 kernel boot uki
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import tmp from 'tmp';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatRow, median, medianOf, OSB, timeShell, type BenchRow } from './lib.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
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
  const r = medianOf(15, `${OSB} --help > /dev/null`);
  return [{ name: 'osb --help startup', median: r.median, runs: 15, goal: '<= 0.25 s' }];
}

/** `osb all` with everything up to date, against Node's bare start, on a small real workdir. */
function benchNoop(): BenchRow[] {
  const scratch = scratchDir('osb-bench-noop-');
  try {
    // A small tree with the smoke agent as /sbin/init and an os-release stands for the rootfs:
    // a whole OS as osb counts one (an init, and what OS it is), so the image and initrd take it.
    const fixture = join(scratch, 'rootfs');
    execFileSync('mkdir', ['-p', join(fixture, 'sbin'), join(fixture, 'etc')]);
    execFileSync('cp', [join(ROOT, 'rootfs-builder', 'agent', 'osb-agent.sh'), join(fixture, 'sbin', 'init')]);
    writeFileSync(join(fixture, 'etc', 'os-release'), 'ID=osb-bench\nNAME="osb bench tree"\n');
    const args = `--workdir ${scratch}/wd --rootfs-dir ${fixture} --no-deps --agent-init --compression gzip`;
    execFileSync('sh', ['-c', `${OSB} all ${args} >/dev/null`]);
    const noop = medianOf(15, `${OSB} all ${args} > /dev/null`);
    const node = medianOf(15, `${process.execPath} -e 0`);
    return [{ name: 'osb all, everything up to date (no-op)', median: noop.median, runs: 15, baseline: 'node -e 0', baselineMedian: node.median, goal: '<= 2.5x' }];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** osb rootfs (cold: empty package cache) against plain mmdebstrap on the same mirror. */
function benchRootfs(): BenchRow[] {
  const runs = Math.max(3, Math.min(RUNS, 3));
  const scratch = scratchDir('osb-bench-rootfs-');
  try {
    const plain = medianOf(runs, `mmdebstrap --variant=minbase --mode=root --quiet bookworm ${scratch}/plain ${MIRROR}`, () => rmSync(`${scratch}/plain`, { recursive: true, force: true }));
    const osbCold = medianOf(runs, `${OSB} rootfs --agent-init --workdir ${scratch}/wd --mirror ${MIRROR} > /dev/null`, () => rmSync(`${scratch}/wd`, { recursive: true, force: true }));
    // Warm cache, then time rebuilds that each change EXTRA_PKGS.
    const times: number[] = [];
    const pkgs = ['less', 'procps', 'iproute2', 'netbase', 'kmod'];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      execFileSync(OSB, ['rootfs', '--agent-init', '--workdir', `${scratch}/wd`, '--mirror', MIRROR, '--extra-pkgs', pkgs[i % pkgs.length]!], { stdio: 'ignore' });
      times.push((performance.now() - t0) / 1000);
    }
    // Sizes: the default (slim) tree against --no-slim, and against plain mmdebstrap's.
    const du = (p: string) => Number(execFileSync('du', ['-s', '-B1', p], { encoding: 'utf8' }).split('\t')[0]) / 1048576;
    execFileSync(OSB, ['rootfs', '--agent-init', '--workdir', `${scratch}/wd`, '--mirror', MIRROR, '--extra-pkgs='], { stdio: 'ignore' });
    const slim = du(`${scratch}/wd/rootfs`);
    execFileSync(OSB, ['rootfs', '--agent-init', '--no-slim', '--workdir', `${scratch}/fat`, '--mirror', MIRROR], { stdio: 'ignore' });
    const fat = du(`${scratch}/fat/rootfs`);
    rmSync(`${scratch}/plain`, { recursive: true, force: true });
    execFileSync('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', 'bookworm', `${scratch}/plain`, MIRROR], { stdio: 'ignore' });
    const plainSize = du(`${scratch}/plain`);
    const size = (name: string, mib: number, base: string, baseMib: number, goal?: string): BenchRow => ({ name, median: 0, runs: 1, unit: 'MiB', value: mib, baseline: base, baselineValue: baseMib, ...(goal ? { goal } : {}) });
    return [
      { name: 'osb rootfs --distro debian (cold cache)', median: osbCold.median, runs, baseline: 'mmdebstrap --variant=minbase', baselineMedian: plain.median, goal: '<= 1.05x' },
      { name: 'osb rootfs after an EXTRA_PKGS change', median: median(times), runs, baseline: 'osb rootfs cold', baselineMedian: osbCold.median, goal: '<= 0.5x' },
      // osb's tree before slim was plain mmdebstrap minbase plus the agent: the goal's baseline.
      size('rootfs size, slim (default)', slim, 'plain mmdebstrap minbase (osb before slim)', plainSize, '<= 0.6x'),
      size('rootfs size, slim (default)', slim, 'osb rootfs --no-slim', fat),
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
      osbTimes.push(medianOf(1, `${OSB} rootfs --arch aarch64 --agent-init --workdir ${scratch}/wd --cache-dir ${scratch}/cache --mirror ${MIRROR} > /dev/null`).median);
    }
    return [{ name: 'osb rootfs --arch aarch64 --agent-init (cold: empty cache dir)', median: median(osbTimes), runs, baseline: 'mmdebstrap --variant=minbase --arch=arm64', baselineMedian: median(plainTimes), goal: '<= 1.05x' }];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The cross-compiled arm64 kernel, cold, once (issue 16 asks for its time to be recorded). */
function benchArm64Kernel(): BenchRow[] {
  const scratch = scratchDir('osb-bench-arm64-kernel-');
  try {
    const cold = medianOf(1, `${OSB} kernel --arch aarch64 --workdir ${scratch} --cache-dir ${CACHE}/osb-cache > /dev/null`);
    const size = statSync(join(scratch, 'vmlinuz.container')).size;
    return [{ name: 'osb kernel --arch aarch64 (cold, cross-compiled, linux-source-6.1)', median: cold.median, runs: 1, extra: `Image ${(size / 1048576).toFixed(1)} MiB` }];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Cold kernel build once (fresh O= dir, source already unpacked), then no-op rebuilds. */
function benchKernel(): BenchRow[] {
  const scratch = scratchDir('osb-bench-kernel-');
  const args = `kernel --workdir ${scratch} --cache-dir ${CACHE}/osb-cache`;
  try {
    const cold = medianOf(1, `${OSB} ${args} > /dev/null`);
    const noop = medianOf(RUNS, `${OSB} ${args} > /dev/null`);
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
    execFileSync(OSB, ['kernel', '--workdir', kernelWd, '--cache-dir', `${CACHE}/osb-cache`], { stdio: 'ignore' });
    const common = ['--agent-init', '--workdir', scratch, '--cache-dir', `${CACHE}/osb-cache`, '--mirror', MIRROR, '--no-dax'];
    const boot = (extra: string[]) =>
      readySeconds(execFileSync(OSB, ['boot', ...common, ...extra], { encoding: 'utf8', env: { ...process.env, CI: 'true' } }));
    const osbKernel = join(kernelWd, 'vmlinuz.container');
    const sample = (extra: string[]) => median(Array.from({ length: RUNS }, () => boot(extra)));
    const initrd = sample(['--initrd', '--kernel', osbKernel]);
    const image = sample(['--image', '--kernel', osbKernel]);
    const rows: BenchRow[] = [];
    const d = distro ? sample(['--initrd', '--kernel', join('/boot', distro)]) : undefined;
    if (distro) {
      rows.push({ name: "boot to ready, initrd, osb's kernel (TCG)", median: initrd, runs: RUNS, baseline: `Debian's ${distro}`, baselineMedian: d, goal: '<= 0.3x' });
    } else {
      rows.push({ name: "boot to ready, initrd, osb's kernel (TCG)", median: initrd, runs: RUNS, extra: 'apt-get install linux-image-amd64 for the comparison' });
    }
    rows.push({ name: "boot to ready, ext4 image over virtio-blk, osb's kernel (TCG)", median: image, runs: RUNS });
    // Firecracker's machine model (qemu microvm: no PCI scan, no ACPI) and the vmlinux through PVH (no decompression).
    const vmlinux = join(kernelWd, 'vmlinux.container');
    const fcInitrd = sample(['--initrd', '--vmm', 'firecracker', '--kernel', vmlinux]);
    const fcImage = sample(['--image', '--vmm', 'firecracker', '--kernel', vmlinux]);
    if (distro) {
      rows.push({ name: 'boot to ready, initrd, --vmm firecracker (TCG)', median: fcInitrd, runs: RUNS, baseline: `Debian's ${distro} on q35`, baselineMedian: d, goal: '<= 0.25x' });
    } else {
      rows.push({ name: 'boot to ready, initrd, --vmm firecracker (TCG)', median: fcInitrd, runs: RUNS, extra: 'apt-get install linux-image-amd64 for the comparison' });
    }
    rows.push({ name: 'boot to ready, ext4 image, --vmm firecracker (TCG)', median: fcImage, runs: RUNS, baseline: 'the same image on q35 (osb boot)', baselineMedian: image, goal: '<= 0.8x' });
    // The other runtimes' profiles, each against osb's own boot of the same artefact.
    for (const vmm of ['kata-qemu', 'cloud-hypervisor']) {
      rows.push({ name: `boot to ready, initrd, --vmm ${vmm} (TCG)`, median: sample(['--initrd', '--vmm', vmm, '--kernel', vmlinux]), runs: RUNS, baseline: 'osb boot --initrd (q35, bzImage)', baselineMedian: initrd });
      rows.push({ name: `boot to ready, ext4 image, --vmm ${vmm} (TCG)`, median: sample(['--image', '--vmm', vmm, '--kernel', vmlinux]), runs: RUNS, baseline: 'osb boot --image (q35, bzImage)', baselineMedian: image });
    }
    // The KVM probe: once per host (verdict cached) against a probe on every boot, as before.
    const cmd = `${OSB} boot --initrd ${common.join(' ')} --kernel ${osbKernel} > /dev/null`;
    const env = (dir: string) => ({ env: { ...process.env, CI: 'true', XDG_CACHE_HOME: join(scratch, dir) } });
    const everyTime = medianOf(RUNS, cmd, () => rmSync(join(scratch, 'probe-each'), { recursive: true, force: true }), env('probe-each'));
    timeShell(cmd, env('probe-once')); // the one probe this host needs
    const once = medianOf(RUNS, cmd, undefined, env('probe-once'));
    rows.push({ name: 'osb boot --initrd, whole command, KVM verdict cached for the host', median: once.median, runs: RUNS, baseline: 'the same, probing KVM on every boot', baselineMedian: everyTime.median, goal: 'probe once per host' });
    return rows;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const ORDER = ['help', 'noop', 'rootfs', 'rpm', 'image-build', 'image', 'initrd', 'oci', 'squashfs', 'publish', 'arm64', 'kernel', 'arm64-kernel', 'boot'];

async function main(): Promise<void> {
  const want = new Set(process.argv.slice(2));
  const on = (s: string) => want.size === 0 || want.has(s);
  const { recordResults, sectionResult } = await import('./report.js');
  const run: Record<string, ReturnType<typeof sectionResult>> = {};
  // `npm run bench -- render`: rewrite the README table from bench/results.json, measuring nothing.
  const render = want.delete('render') && want.size === 0;
  const section = async (name: string, rows: () => BenchRow[] | Promise<BenchRow[]>) => {
    if (render || !on(name)) return;
    run[name] = sectionResult(await rows());
    print(run[name]!.rows);
  };
  process.stdout.write(`osb benchmarks: medians of ${RUNS} runs unless said (OSB_BENCH_RUNS to change)\n`);
  const debian = async () => (await import('./debian-rootfs.js')).debianRootfs();
  await section('help', benchHelp);
  await section('noop', benchNoop);
  await section('rootfs', benchRootfs);
  // dnf's own time varies by a tenth from run to run: more rounds for a steady median.
  await section('rpm', async () => (await import('./rpm-rootfs.js')).benchRpmRootfs(Math.max(RUNS, 9)));
  await section('image-build', async () => (await import('./image-build.js')).benchImageBuild(Math.max(RUNS, 7)));
  await section('image', async () => (await import('./image.js')).benchImage(await debian(), RUNS));
  await section('initrd', async () => (await import('./initrd.js')).benchInitrd(await debian(), RUNS));
  await section('oci', async () => (await import('./oci.js')).benchOci(await debian(), RUNS));
  await section('squashfs', async () => (await import('./oci.js')).benchSquashfs(await debian(), RUNS));
  await section('publish', async () => (await import('./publish.js')).benchPublish(await debian(), RUNS));
  await section('parent', async () => (await import('./parent.js')).benchParent(await debian(), RUNS));
  await section('arm64', benchArm64);
  await section('kernel', benchKernel);
  await section('arm64-kernel', benchArm64Kernel);
  await section('boot', benchBoot);
  await section('uki', async () => {
    execFileSync(OSB, ['kernel', '--workdir', join(CACHE, 'kernel-workdir'), '--cache-dir', `${CACHE}/osb-cache`], { stdio: 'ignore' });
    return (await import('./uki.js')).benchUki(OSB, join(CACHE, 'kernel-workdir', 'vmlinuz.container'), `${CACHE}/osb-cache`, RUNS, readySeconds);
  });
  // Every run lands in bench/results.json and the README's table (OSB_BENCH_NO_README=1 to keep them).
  if (!process.env.OSB_BENCH_NO_README) {
    recordResults(join(ROOT, 'bench', 'results.json'), join(ROOT, 'README.md'), run, ORDER);
    process.stdout.write('README.md benchmark table updated from bench/results.json\n');
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
