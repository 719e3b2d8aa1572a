/**
 * osb's guest kernel for the slow tests, built by `osb kernel` itself in a workdir kept under
 * OSB_TEST_CACHE (one per arch). osb's own make semantics decide whether it is up to date (source,
 * fragments, compiler); when an input changes it rebuilds incrementally, and a failed build
 * leaves no kernel. The aarch64 one is cross-compiled (gcc-aarch64-linux-gnu).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { osb } from './cli.js';
import { TEST_CACHE } from './debian-rootfs.js';

export const KERNEL_WORKDIR = join(TEST_CACHE, 'kernel-workdir');

/** The workdir of the cached kernel for `arch` (x86_64 keeps its historical name). */
export const kernelWorkdir = (arch: 'x86_64' | 'aarch64' = 'x86_64'): string => (arch === 'x86_64' ? KERNEL_WORKDIR : `${KERNEL_WORKDIR}-${arch}`);

export function guestKernel(arch: 'x86_64' | 'aarch64' = 'x86_64'): string {
  mkdirSync(TEST_CACHE, { recursive: true });
  const wd = kernelWorkdir(arch);
  const r = osb(['kernel', '--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), ...(arch === 'x86_64' ? [] : ['--arch', arch])], { timeoutMs: 60 * 60_000 });
  if (r.code !== 0) throw new Error(`osb kernel failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  const k = join(wd, 'vmlinuz.container');
  if (!existsSync(k)) throw new Error('osb kernel succeeded but vmlinuz.container is missing');
  return k;
}
