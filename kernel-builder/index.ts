/** The kernel builder's entry: resolve the source, build with osb's fragments, report the inputs. */
import type { BuildContext } from '../lib/context.js';
import { hashPath } from '../lib/hash.js';
import { buildKernel, kernelCompiler, type KernelBuildResult } from './build.js';
import { configsDir, fragmentFiles, mergeFragments, readFragmentFiles } from './config.js';
import { prepareSource, resolveSource } from './source.js';

export interface GuestKernelOptions {
  /** Source directory or tarball. @default the linux-source-X.Y under /usr/src */
  readonly kernelSrc?: string;
  /** X.Y[.Z] to download from kernel.org (checksum verified). */
  readonly kernelVersion?: string;
  /** Where tarballs are downloaded and unpacked. */
  readonly cacheDir: string;
  /** Out-of-tree build directory (kept for incremental rebuilds). */
  readonly buildDir: string;
  /** Where vmlinuz-VER, vmlinux-VER, config-VER and the links go. */
  readonly outDir: string;
  /** osb arch name (x86_64, aarch64). */
  readonly arch: string;
  readonly fragments: readonly string[];
}

/** Inputs beyond settings: the source's identity, osb's fragments, and the compiler's version. */
export async function kernelInputs(ctx: BuildContext, o: Pick<GuestKernelOptions, 'kernelSrc' | 'kernelVersion' | 'arch'>): Promise<Record<string, string>> {
  const spec = resolveSource(o.kernelSrc, o.kernelVersion);
  // The compiler that builds this arch here: the host's gcc, or the cross gcc for a foreign arch.
  const cc = await ctx.run([kernelCompiler(o.arch), '--version'], { readOnly: true, quiet: true, allowFail: true }).catch(() => ({ stdout: 'none' }));
  return {
    'kernel source': spec.identity,
    'osb config fragments': await archFragmentsHash(o.arch),
    compiler: cc.stdout.split('\n')[0] ?? 'none',
  };
}

/**
 * osb's fragments this arch merges (common/ and ARCH/), so adding another arch's rebuilds
 * nothing: the tree hash with the other arch directories left out (for x86_64 the same value as
 * the whole tree had before aarch64 fragments existed).
 */
async function archFragmentsHash(arch: string): Promise<string> {
  return hashPath(configsDir(), (rel) => rel === '.' || ['common', arch].some((d) => rel === `./${d}` || rel.startsWith(`./${d}/`)));
}

/** Checks that need no build: the source exists, every fragment file exists (before any unpacking). */
export async function validateKernelOptions(o: Pick<GuestKernelOptions, 'kernelSrc' | 'kernelVersion' | 'arch' | 'fragments'>): Promise<void> {
  resolveSource(o.kernelSrc, o.kernelVersion);
  // Read and parse every fragment now: a typo must not wait for a 138 MB source to unpack.
  mergeFragments(readFragmentFiles(await fragmentFiles(o.arch, o.fragments)));
}

export async function buildGuestKernel(ctx: BuildContext, o: GuestKernelOptions): Promise<KernelBuildResult> {
  const src = await prepareSource(ctx, resolveSource(o.kernelSrc, o.kernelVersion), o.cacheDir);
  const r = await buildKernel(ctx, { srcDir: src, buildDir: o.buildDir, outDir: o.outDir, arch: o.arch, userFragments: o.fragments });
  if (!ctx.dryRun) ctx.log.info(`built ${r.release}: ${r.vmlinuz}`);
  return r;
}
