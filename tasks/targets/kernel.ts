/** The kernel target: a guest kernel from source and config fragments (kernel-builder/). */
import { join } from 'node:path';
import { hostArch } from '../../distros/index.js';
import type { Target } from '../engine/target.js';
import { cacheDir, kernelPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

function kernelOptions(s: Settings) {
  const arch = s.arch ?? hostArch();
  return {
    kernelSrc: s.kernelSrc,
    kernelVersion: s.kernelVersion,
    cacheDir: cacheDir(s),
    buildDir: join(kernelPaths(s).buildDir, arch),
    outDir: s.workdir,
    arch,
    fragments: s.kernelConfigFragment,
  };
}

export const kernel: Target = {
  name: 'kernel',
  summary: 'Guest kernel from source and config fragments (WORKDIR/vmlinuz-VERSION)',
  cacheable: true,
  deps: () => [],
  settings: ['kernelSrc', 'kernelVersion', 'arch'],
  files: (s) => s.kernelConfigFragment,
  extraInputs: async (s, ctx) => (await import('../../kernel-builder/index.js')).kernelInputs(ctx, kernelOptions(s)),
  outputs: (s) => [kernelPaths(s).vmlinuz, kernelPaths(s).vmlinux, kernelPaths(s).config],
  tools: (s) => {
    const arch = s.arch ?? hostArch();
    return ['make', 'gcc', ...(arch !== hostArch() ? [`${arch}-linux-gnu-gcc`] : []), 'flex', 'bison', 'bc', 'perl', 'tar', 'xz'];
  },
  validate: async (s) => (await import('../../kernel-builder/index.js')).validateKernelOptions(kernelOptions(s)),
  run: async (ctx, s) => void (await (await import('../../kernel-builder/index.js')).buildGuestKernel(ctx, kernelOptions(s))),
};
