/**
 * osb's guest kernel for the slow tests, built by `osb kernel` itself in a workdir kept under
 * OSB_TEST_CACHE. osb's own make semantics decide whether it is up to date (source, fragments,
 * compiler); when an input changes it rebuilds incrementally, and a failed build leaves no kernel.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { osb } from './cli.js';
import { TEST_CACHE } from './debian-rootfs.js';

export const KERNEL_WORKDIR = join(TEST_CACHE, 'kernel-workdir');

export function guestKernel(): string {
  mkdirSync(TEST_CACHE, { recursive: true });
  const r = osb(['kernel', '--workdir', KERNEL_WORKDIR, '--cache-dir', join(TEST_CACHE, 'osb-cache')], { timeoutMs: 40 * 60_000 });
  if (r.code !== 0) throw new Error(`osb kernel failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  const k = join(KERNEL_WORKDIR, 'vmlinuz.container');
  if (!existsSync(k)) throw new Error('osb kernel succeeded but vmlinuz.container is missing');
  return k;
}
