/**
 * Killed builds clean up after themselves, and a full disk says so in one line.
 *
 * - kill -9 (of the whole process group, as the OOM killer or a lost CI runner would) at random
 *   points of `osb oci` and `osb squashfs` on a fixture tree, and of `osb rootfs` from Debian's
 *   archive, cold (while mmdebstrap builds the base: it leaves /proc, /sys and /dev mounted in
 *   its tree) and warm (the base from the cache); then one successful run: no osb temp is left
 *   anywhere under the workdir or its cache, and nothing is mounted there. `osb clean --cache`
 *   empties the cache.
 * - a workdir on a 20 MiB tmpfs: `osb image`, `osb squashfs` and `osb initrd` of a tree that does
 *   not fit fail with "no space left on MOUNT: need N MiB, have M MiB" and nothing else, whether
 *   osb's estimate catches it first or the tool meets ENOSPC, and leave nothing behind.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, OSB, osb } from '../helpers/cli.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { DEBIAN_MIRROR, TEST_CACHE } from '../helpers/debian-rootfs.js';

jest.setTimeout(15 * 60_000);

/** Every name osb gives a temporary file or tree (lib/stale.ts). */
const TEMP = /\.osb-(?:tmp|stage|old)-\d+$|^lock\.\d+\.tmp$|^lock\.stale-\d+$|^\.osb-cache-(?:in|out)-|\.osb-cache$|^\.squashfs-boot-tree-/;

/** Every osb temp under `root`, however deep (symlinks not followed). */
function tempsUnder(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (TEMP.test(name)) found.push(p);
      else if (lstatSync(p).isDirectory() && !mountsUnder(p).includes(p)) walk(p);
    }
  };
  if (existsSync(root)) walk(root);
  return found;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start osb in a process group of its own, kill -9 the group after `ms` (or as soon as `when`
 * holds, polled), and wait for it.
 */
async function killAfter(args: readonly string[], ms: number, when?: () => boolean): Promise<void> {
  // A killed mmdebstrap leaves its own temporary directories in TMPDIR: the test's, removed after.
  const env = cleanEnv({ TMPDIR: join(dir, 'tmp') });
  mkdirSync(env.TMPDIR!, { recursive: true });
  const child = spawn(process.execPath, [OSB, ...args], { env, stdio: 'ignore', detached: true });
  let done = false;
  const exited = new Promise((r) => child.on('exit', r)).then(() => (done = true));
  const t0 = Date.now();
  // Waiting for a condition, `ms` is what an unloaded run took: a loaded machine (CI beside other
  // work) may get there later, and the kill must still come while the condition holds.
  if (when) while (!done && Date.now() - t0 < ms * 3 + 10_000 && !when()) await sleep(20);
  else await Promise.race([sleep(ms), exited]);
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // it had finished
  }
  await exited;
  // Give the killed group's processes a moment to be reaped.
  await sleep(100);
}

/** How long a run takes, in ms. */
function timed(args: readonly string[]): number {
  const t0 = Date.now();
  const r = osb(args);
  if (r.code !== 0) throw new Error(`osb ${args.join(' ')}: ${r.stderr}`);
  return Date.now() - t0;
}

/** Random points, between `from` and `to` ms: printed, so a failure can be replayed. */
function points(n: number, from: number, to: number): number[] {
  const ms = Array.from({ length: n }, () => Math.round(from + Math.random() * (to - from)));
  process.stdout.write(`kill -9 after ${ms.join(', ')} ms\n`);
  return ms;
}

/** A fixture tree with enough incompressible data that writing it takes a while (or overflows a small disk). */
function bulkyRootfs(dir: string, megabytes: number): string {
  makeFixtureRootfs(dir);
  writeFileSync(join(dir, 'etc', 'os-release'), 'ID=osb-fixture\n');
  mkdirSync(join(dir, 'var', 'bulk'), { recursive: true });
  for (let i = 0; i < megabytes; i += 10) writeFileSync(join(dir, 'var', 'bulk', `part-${i}`), randomBytes(10 << 20));
  return dir;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-leftovers-'));
});
afterAll(() => {
  for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) execFileSync('umount', ['--lazy', m]);
  rmSync(dir, { recursive: true, force: true });
});

(isRoot ? describe : describe.skip)('killed builds leave nothing behind (needs root)', () => {
  test('kill -9 at random points of osb oci and osb squashfs, then one run each: no osb temp left in the workdir', async () => {
    const rootfs = bulkyRootfs(join(dir, 'bulky'), 60);
    const wd = join(dir, 'wd-fixture');
    const oci = ['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--agent-init', '--force'];
    const squashfs = ['squashfs', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--force'];
    const took = { oci: timed(oci), squashfs: timed(squashfs) };
    const some = () => tempsUnder(wd).length > 0;
    for (const ms of points(4, 50, took.oci)) await killAfter(oci, ms);
    await killAfter(oci, took.oci, some); // at least one kill while a temp exists
    for (const ms of points(4, 50, took.squashfs)) await killAfter(squashfs, ms);
    await killAfter(squashfs, took.squashfs, some);
    // The last kill left a temp; the runs that follow remove every one.
    const left = tempsUnder(wd);
    process.stdout.write(`after the kills: ${left.map((p) => p.slice(wd.length + 1)).join(' ')}\n`);
    expect(left.length).toBeGreaterThan(0);
    for (const args of [oci.slice(0, -1), squashfs.slice(0, -1)]) expect(osb(args).code).toBe(0);
    expect(tempsUnder(wd)).toEqual([]);
    expect(existsSync(join(wd, 'osb-oci.tar')) && existsSync(join(wd, 'osb.squashfs'))).toBe(true);
  });

  test('kill -9 of osb rootfs from the archive, cold and warm, then one run: no temp and no mount left under the workdir or its cache; clean --cache empties the cache', async () => {
    const wd = join(dir, 'wd-debian');
    const cache = join(wd, 'cache');
    // The downloaded .debs are shared with the other tests; the base trees are this test's own,
    // so the first builds are cold.
    mkdirSync(cache, { recursive: true });
    mkdirSync(join(TEST_CACHE, 'osb-cache', 'debs'), { recursive: true });
    symlinkSync(join(TEST_CACHE, 'osb-cache', 'debs'), join(cache, 'debs'));
    const args = ['rootfs', '--distro', 'debian', '--agent-init', '--mirror', DEBIAN_MIRROR, '--workdir', wd, '--cache-dir', cache];
    // Cold: while mmdebstrap bootstraps the base (about 20 s here): once at a random point, once
    // as soon as it has mounted /proc or /dev in the tree, which a kill leaves mounted.
    for (const ms of points(1, 2_000, 15_000)) await killAfter(args, ms);
    await killAfter(args, 40_000, () => mountsUnder(wd).length > 0);
    const base = join(cache, 'base');
    const coldLeft = tempsUnder(wd);
    process.stdout.write(`after the cold kills: ${coldLeft.map((p) => p.slice(wd.length + 1)).join(' ') || 'no temps'}; mounts: ${mountsUnder(wd).length}\n`);
    expect(coldLeft.some((p) => p.startsWith(`${base}/`))).toBe(true); // a half-built base, as in the report
    expect(mountsUnder(wd).length).toBeGreaterThan(0); // and mmdebstrap's mounts in it
    expect(osb(args).code).toBe(0);
    expect(tempsUnder(wd)).toEqual([]);
    expect(mountsUnder(wd)).toEqual([]);
    // Warm: the base from the cache, copied, the agent, the package list, the SBOM.
    const warm = [...args, '--force'];
    const took = timed(warm);
    for (const ms of points(3, 50, took)) await killAfter(warm, ms);
    // A warm run's temps live a fraction of a second: on a loaded machine the poll may see none
    // before the run ends, so the kill that must leave one is tried again until one does.
    for (let i = 0; i < 5 && tempsUnder(wd).length === 0; i++) await killAfter(warm, took, () => tempsUnder(wd).length > 0);
    process.stdout.write(`after the warm kills: ${tempsUnder(wd).map((p) => p.slice(wd.length + 1)).join(' ')}\n`);
    expect(tempsUnder(wd).length).toBeGreaterThan(0);
    const r = osb(args);
    expect(r.code).toBe(0);
    expect(tempsUnder(wd)).toEqual([]);
    expect(mountsUnder(wd)).toEqual([]);
    expect(existsSync(join(wd, 'rootfs', 'sbin', 'init'))).toBe(true);

    const c = osb(['clean', '--cache', '--workdir', wd, '--cache-dir', cache]);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(existsSync(cache)).toBe(false);
    expect(existsSync(join(wd, 'rootfs'))).toBe(false);
    expect(existsSync(join(TEST_CACHE, 'osb-cache', 'debs'))).toBe(true); // only the link went
  });
});

(isRoot ? describe : describe.skip)('a full disk (needs root to mount a tmpfs)', () => {
  let mnt: string;
  let rootfs: string;
  let huge: string;
  beforeAll(() => {
    rootfs = bulkyRootfs(join(dir, 'fits-not'), 30); // compresses to nothing less than 30 MiB
    huge = bulkyRootfs(join(dir, 'huge'), 100);
    mnt = join(dir, 'small-disk');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (mnt && mountsUnder(mnt).length) execFileSync('umount', [mnt]);
  });

  const line = (target: string) => new RegExp(`^osb: ${target} failed: no space left on ${mnt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: need (\\d+) MiB, have (\\d+) MiB\\n$`);

  test.each([
    ['image', 'the size osb computed', () => ['image', '--rootfs-dir', rootfs]],
    ['squashfs', 'the estimate from the tree', () => ['squashfs', '--rootfs-dir', huge]],
    ['initrd', 'the cpio size, uncompressed', () => ['initrd', '--rootfs-dir', rootfs, '--compression', 'none']],
    ['squashfs', 'mksquashfs meeting ENOSPC', () => ['squashfs', '--rootfs-dir', rootfs]],
    ['initrd', 'zstd meeting ENOSPC', () => ['initrd', '--rootfs-dir', rootfs, '--compression', 'zstd']],
  ])('%s refused by %s: one line, nothing left', (target, _how, argv) => {
    const wd = join(mnt, 'wd');
    const r = osb([...argv(), '--no-deps', '--agent-init', '--workdir', wd]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(line(target));
    const [, need, have] = line(target).exec(r.stderr)!;
    expect(Number(need)).toBeGreaterThan(Number(have));
    expect(Number(have)).toBeLessThanOrEqual(20);
    expect(tempsUnder(wd)).toEqual([]);
    expect(readdirSync(wd).filter((n) => !['.osb', '.osb-owned', 'logs'].includes(n))).toEqual([]);
  });
});
