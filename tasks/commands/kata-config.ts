/**
 * `osb kata-config [--initrd]`: the lines of Kata's configuration.toml that point its runtime at
 * what osb built in this workdir, for each hypervisor osb boots the way Kata does (osb boot --vmm):
 * [hypervisor.qemu], [hypervisor.clh] and [hypervisor.firecracker]. The keys are Kata's own
 * (src/runtime/pkg/katautils/config.go): the kernel is the uncompressed vmlinux (Kata's default
 * KERNELTYPE), the image or the initrd, rootfs_type, disable_image_nvdimm when the image has no
 * DAX header, and kernel_verity_params for a measured image, from which Kata's runtime writes the
 * dm-verity line itself. Words after `--` become kernel_params.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'smol-toml';
import { OsbError } from '../../lib/errors.js';
import { hostArch } from '../../distros/index.js';
import type { CommandRun } from '../cli/command.js';
import { imagePath, initrdPath, kernelPaths, rootHashPath } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

/** Kata's kernel_verity_params, from the measured image's root_hash.txt. */
async function verityParams(s: Settings): Promise<string | undefined> {
  if (s.initrd || !s.measuredRootfs) return undefined;
  const file = rootHashPath(s);
  if (!existsSync(file)) throw new OsbError(`the measured image has no root hash file: ${file} does not exist`, 'run `osb image --measured-rootfs` first');
  const { kernelVerityParams, parseRootHashFile } = await import('../../image-builder/index.js');
  return kernelVerityParams(parseRootHashFile(readFileSync(file, 'utf8')));
}

/** The three sections, each the keys Kata reads for that hypervisor. */
export async function kataSections(s: Settings): Promise<Record<string, Record<string, string | boolean>>> {
  const arch = s.arch ?? hostArch();
  const kernel = s.kernel ? resolve(s.kernel) : arch === 'x86_64' ? kernelPaths(s).vmlinux : kernelPaths(s).vmlinuz;
  const verity = await verityParams(s);
  const asset: Record<string, string | boolean> = s.initrd ? { initrd: initrdPath(s) } : { image: imagePath(s), rootfs_type: s.fsType, ...(verity ? { kernel_verity_params: verity } : {}) };
  const params: Record<string, string> = s.passthrough.length ? { kernel_params: s.passthrough.join(' ') } : {};
  // The DAX header is there for the nvdimm: without it (--no-dax, a measured image, arm64) Kata's qemu must not map one.
  const nvdimm = s.dax && !s.measuredRootfs && arch === 'x86_64';
  const qemuOnly: Record<string, string | boolean> = { machine_type: arch === 'x86_64' ? 'q35' : 'virt', ...(s.initrd ? {} : { disable_image_nvdimm: !nvdimm }) };
  return {
    qemu: { kernel, ...asset, ...qemuOnly, ...params },
    clh: { kernel, ...asset, ...params },
    firecracker: { kernel, ...asset, ...params },
  };
}

export const run: CommandRun = async (cmd) => {
  const s = cmd.settings;
  const sections = await kataSections(s);
  const missing = [...new Set(Object.values(sections).flatMap((v) => [v.kernel, v.image ?? v.initrd]))].filter((p): p is string => typeof p === 'string' && !existsSync(p));
  for (const p of missing) process.stderr.write(`warning: ${p} does not exist yet (osb builds it: osb ${p === sections.qemu!.kernel ? 'kernel' : s.initrd ? 'initrd' : 'image'})\n`);
  process.stdout.write(`# Kata Containers configuration.toml: what osb built in ${s.workdir}\n# (osb kata-config; merge each section into the one of the hypervisor you use)\n`);
  process.stdout.write(stringify({ hypervisor: sections }) + '\n');
  return 0;
};
