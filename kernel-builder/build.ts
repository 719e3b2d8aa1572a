/**
 * Configure and build the kernel out of tree (O= under the workdir, kept between builds so a
 * changed fragment rebuilds incrementally), then install vmlinuz/vmlinux/config into the workdir.
 */
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { writeAtomic } from '../lib/atomic.js';
import { OsbError } from '../lib/errors.js';
import { checkConfig, droppedError, fragmentFiles, indexKconfig, mergeFragments, parseDotConfig, readFragmentFiles } from './config.js';

export interface KernelBuildOptions {
  readonly srcDir: string;
  /** Out-of-tree build directory (make O=). */
  readonly buildDir: string;
  /** Where vmlinuz-VER, vmlinux-VER, config-VER and the *.container links go. */
  readonly outDir: string;
  /** osb arch name (x86_64, aarch64). */
  readonly arch: string;
  readonly userFragments: readonly string[];
}

export interface KernelBuildResult {
  readonly release: string;
  readonly vmlinuz: string;
  readonly vmlinux: string;
  readonly config: string;
  /** RD_* compressors enabled in the final config (the initrd builder warns on a mismatch). */
  readonly initrdCompressors: readonly string[];
}

/**
 * Per osb arch: the kernel's ARCH= and SRCARCH (for reading its Kconfig), the boot image make
 * builds, the Node.js name of a host of that arch (no cross compiler needed there), and the
 * Debian cross toolchain's prefix used from any other host (gcc-aarch64-linux-gnu).
 */
export const KARCH: Record<string, { make: string; srcArch: string; image: string; node: string; cross: string }> = {
  x86_64: { make: 'x86_64', srcArch: 'x86', image: 'arch/x86/boot/bzImage', node: 'x64', cross: 'x86_64-linux-gnu-' },
  aarch64: { make: 'arm64', srcArch: 'arm64', image: 'arch/arm64/boot/Image', node: 'arm64', cross: 'aarch64-linux-gnu-' },
};

/** make arguments selecting the arch, plus CROSS_COMPILE when it is not the host's. */
export function archMakeArgs(arch: string, hostNodeArch: string = process.arch): string[] {
  const k = KARCH[arch];
  if (!k) throw new OsbError(`osb has no kernel config for architecture ${arch}`, `supported: ${Object.keys(KARCH).join(', ')}`);
  return [`ARCH=${k.make}`, ...(k.node === hostNodeArch ? [] : [`CROSS_COMPILE=${k.cross}`])];
}

/** The C compiler the kernel build uses for this arch on this host (its version is a build input). */
export function kernelCompiler(arch: string, hostNodeArch: string = process.arch): string {
  const k = KARCH[arch];
  return k && k.node !== hostNodeArch ? `${k.cross}gcc` : 'gcc';
}

/** Environment that makes the build reproducible (no host name, user or build time in it). */
function kbuildEnv(ctx: BuildContext): Record<string, string> {
  return {
    KBUILD_BUILD_TIMESTAMP: new Date(ctx.sourceDateEpoch * 1000).toUTCString(),
    KBUILD_BUILD_USER: 'osb',
    KBUILD_BUILD_HOST: 'osb',
    KBUILD_BUILD_VERSION: '1',
  };
}

export async function configureKernel(ctx: BuildContext, o: KernelBuildOptions): Promise<void> {
  const archArgs = archMakeArgs(o.arch);
  const files = await fragmentFiles(o.arch, o.userFragments);
  const merged = mergeFragments(readFragmentFiles(files));
  const mergedPath = join(o.buildDir, 'osb-fragments.config');
  ctx.log.info(`configuring: allnoconfig + ${files.length} fragments`);
  if (!ctx.dryRun) {
    await mkdir(o.buildDir, { recursive: true });
    await writeFile(mergedPath, merged.text);
  }
  // allnoconfig with KCONFIG_ALLCONFIG is the kernel's own way to force symbols onto a minimal
  // base (what merge_config.sh -n does). It assigns in one pass, so a symbol read before the
  // option that selects its dependency is dropped; re-applying the fragments with olddefconfig
  // until nothing changes settles that. What is still missing then truly cannot be enabled.
  const make = (target: string, extra: string[] = []) =>
    ctx.run(['make', '-C', o.srcDir, `O=${o.buildDir}`, ...archArgs, ...extra, target], { env: kbuildEnv(ctx) });
  await make('allnoconfig', [`KCONFIG_ALLCONFIG=${mergedPath}`]);
  if (ctx.dryRun) return;
  const kconfig = await indexKconfig(o.srcDir, KARCH[o.arch]!.srcArch);
  const dotConfig = join(o.buildDir, '.config');
  let check = checkConfig(merged.options, parseDotConfig(await readFile(dotConfig, 'utf8')), kconfig);
  for (let pass = 0; pass < 4 && check.dropped.length; pass++) {
    const before = check.dropped.length;
    await writeFile(dotConfig, (await readFile(dotConfig, 'utf8')) + merged.text);
    await make('olddefconfig');
    check = checkConfig(merged.options, parseDotConfig(await readFile(dotConfig, 'utf8')), kconfig);
    if (check.dropped.length === before) break;
  }
  for (const u of check.unknown) ctx.log.warn(`${u.name} (${u.where}) is not an option of this kernel; ignored`);
  if (check.dropped.length) throw droppedError(check);
}

export async function buildKernel(ctx: BuildContext, o: KernelBuildOptions): Promise<KernelBuildResult> {
  const karch = KARCH[o.arch]!;
  const archArgs = archMakeArgs(o.arch);
  await configureKernel(ctx, o);
  let objects = 0;
  const onLine = (line: string) => {
    if (/^\s+(CC|AS|LD|AR)\s/.test(line) && ++objects % 200 === 0) ctx.log.info(`compiling: ${objects} objects built`);
  };
  ctx.log.info(`building with make -j${ctx.jobs}`);
  await ctx.run(['make', '-C', o.srcDir, `O=${o.buildDir}`, ...archArgs, `-j${ctx.jobs}`, basename(karch.image), 'vmlinux'], { env: kbuildEnv(ctx), onLine });
  const release = ctx.dryRun ? 'VERSION' : (await ctx.run(['make', '-s', '-C', o.srcDir, `O=${o.buildDir}`, ...archArgs, 'kernelrelease'], { readOnly: true, quiet: true })).stdout.trim().split('\n').pop()!;
  const out = {
    vmlinuz: join(o.outDir, `vmlinuz-${release}`),
    vmlinux: join(o.outDir, `vmlinux-${release}`),
    config: join(o.outDir, `config-${release}`),
  };
  if (ctx.dryRun) {
    ctx.log.info(`would install ${out.vmlinuz}, ${out.vmlinux}, ${out.config} and the *.container links`);
    return { release, ...out, initrdCompressors: [] };
  }
  await writeAtomic(out.vmlinuz, (tmp) => copyFile(join(o.buildDir, karch.image), tmp));
  await writeAtomic(out.vmlinux, (tmp) => copyFile(join(o.buildDir, 'vmlinux'), tmp));
  await writeAtomic(out.config, (tmp) => copyFile(join(o.buildDir, '.config'), tmp));
  // Stable names, as Clear Containers' osbuilder made them: vmlinuz.container -> vmlinuz-VER.
  for (const [link, target] of [['vmlinuz.container', out.vmlinuz], ['vmlinux.container', out.vmlinux], ['kernel.config', out.config]] as const) {
    const p = join(o.outDir, link);
    await writeAtomic(p, (tmp) => symlink(basename(target), tmp));
  }
  const cfg = parseDotConfig(await readFile(out.config, 'utf8'));
  const initrdCompressors = ['GZIP', 'ZSTD', 'XZ', 'LZ4', 'BZIP2', 'LZMA', 'LZO'].filter((c) => cfg.get(`CONFIG_RD_${c}`) === 'y').map((c) => c.toLowerCase());
  return { release, ...out, initrdCompressors };
}
