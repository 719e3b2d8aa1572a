/**
 * A real Debian bookworm minbase tree for benchmarks and integration tests, built once with
 * mmdebstrap from Debian's archive and kept under OSB_TEST_CACHE (default /var/cache/osb-test).
 * The cache is keyed by its inputs (release, variant, this file's recipe version); a failed build
 * never leaves a cache entry behind, so a cache can not hide a failure.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The smoke agent, found from the sources (tests) or from dist/ (benchmarks). */
const here = dirname(fileURLToPath(import.meta.url));
const AGENT_SCRIPT = [join(here, '..', 'rootfs-builder', 'agent', 'osb-agent.sh'), join(here, '..', '..', 'rootfs-builder', 'agent', 'osb-agent.sh')].find((p) => existsSync(p))!;

const RECIPE = 'v1';
export const TEST_CACHE = process.env.OSB_TEST_CACHE ?? '/var/cache/osb-test';
export const DEBIAN_MIRROR = process.env.OSB_TEST_MIRROR ?? 'http://deb.debian.org/debian';

/**
 * A Debian minbase tree built once with mmdebstrap into TEST_CACHE/NAME (NAME carries the recipe's
 * inputs and version), `finish` applied to it before it is marked complete; a failed build leaves
 * no entry. The trees of the tests and the benchmarks all come from here.
 */
export function cachedDebianTree(name: string, release: string, include: readonly string[] = [], finish?: (rootfs: string) => void): string {
  const dir = join(TEST_CACHE, name);
  if (existsSync(join(dir, '.complete'))) return join(dir, 'rootfs');
  mkdirSync(TEST_CACHE, { recursive: true });
  const stage = `${dir}.stage-${process.pid}`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    execFileSync('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', ...(include.length ? [`--include=${include.join(',')}`] : []), release, join(stage, 'rootfs'), DEBIAN_MIRROR], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
    });
    finish?.(join(stage, 'rootfs'));
    writeFileSync(join(stage, '.complete'), '');
    rmSync(dir, { recursive: true, force: true });
    renameSync(stage, dir);
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    throw e;
  }
  return join(dir, 'rootfs');
}

/** Path of a Debian bookworm minbase rootfs with the smoke agent as /sbin/init. */
export function debianRootfs(): string {
  return cachedDebianTree(`debian-bookworm-minbase-${RECIPE}`, 'bookworm', [], (rootfs) => {
    rmSync(join(rootfs, 'sbin/init'), { force: true });
    copyFileSync(AGENT_SCRIPT, join(rootfs, 'sbin/init'));
    chmodSync(join(rootfs, 'sbin/init'), 0o755);
  });
}
