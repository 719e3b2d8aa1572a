/** The kernel target: resolve the source, build with osb's fragments, record what it enables. */
import { join } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { hashPath } from '../lib/hash.js';
import { hostArch } from '../distros/index.js';
import { cacheDir, kernelPaths } from '../tasks/paths.js';
import type { Settings } from '../tasks/settings.js';
import { buildKernel } from './build.js';
import { configsDir } from './config.js';
import { prepareSource, resolveSource } from './source.js';

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** Inputs beyond settings: the source's identity, osb's fragments, and the compiler's version. */
export async function kernelExtraInputs(ctx: BuildContext, s: Settings): Promise<Record<string, string>> {
  const spec = resolveSource(s.kernelSrc as string | undefined, s.kernelVersion as string | undefined);
  const cc = await ctx.run(['gcc', '--version'], { readOnly: true, quiet: true, allowFail: true }).catch(() => ({ stdout: 'none' }));
  return {
    'kernel source': spec.identity,
    'osb config fragments': await hashPath(configsDir()),
    compiler: cc.stdout.split('\n')[0] ?? 'none',
  };
}

export async function runKernelTarget(ctx: BuildContext, s: Settings): Promise<void> {
  const spec = resolveSource(s.kernelSrc as string | undefined, s.kernelVersion as string | undefined);
  const src = await prepareSource(ctx, spec, cacheDir(s));
  const r = await buildKernel(ctx, {
    srcDir: src,
    buildDir: join(kernelPaths(s).buildDir, ((s.arch as string | undefined) ?? hostArch())),
    outDir: s.workdir,
    arch: (s.arch as string | undefined) ?? hostArch(),
    userFragments: list(s.kernelConfigFragment),
  });
  if (!ctx.dryRun) ctx.log.info(`built ${r.release}: ${r.vmlinuz}`);
}
