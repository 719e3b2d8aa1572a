/**
 * `osb kata-config [--initrd]`: the lines of Kata's configuration.toml that point its runtime at
 * what osb built in this workdir, for each hypervisor osb boots the way Kata does (osb boot --vmm):
 * [hypervisor.qemu], [hypervisor.clh] and [hypervisor.firecracker]. The keys are Kata's own
 * (src/runtime/pkg/katautils/config.go): the kernel is the uncompressed vmlinux (Kata's default
 * KERNELTYPE), the image or the initrd, rootfs_type, disable_image_nvdimm when the image has no
 * DAX header, and kernel_verity_params for a measured image, from which Kata's runtime writes the
 * dm-verity line itself; a guest extension image osb sysext --for kata built, as
 * guest_extension_images (qemu and clh). Words after `--` become kernel_params.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'smol-toml';
import { hostArch } from '../../distros/index.js';
import { loadsVmlinux } from '../../lib/vmm.js';
import type { CommandRun } from '../cli/command.js';
import { imagePath, initrdPath, kernelPaths, sysextPath, sysextVerityPath } from '../settings/paths.js';
import { requireOneArch } from '../settings/arches.js';
import type { Settings } from '../settings/table.js';
import { hasDaxHeader, measuredVerity } from '../targets/image.js';
import { kataVerityParams } from '../targets/sysext.js';

/** The three sections, each the keys Kata reads for that hypervisor. */
async function kataSections(s: Settings): Promise<Record<string, Record<string, string | boolean | Record<string, string>[]>>> {
  const arch = s.arch ?? hostArch();
  const kernel = s.kernel ? resolve(s.kernel) : loadsVmlinux('kata-qemu', arch) ? kernelPaths(s).vmlinux : kernelPaths(s).vmlinuz;
  const { kernelVerityParams } = await import('../../image-builder/index.js');
  // Kata's runtime writes the dm-verity line from these (as osb boot --vmm kata-qemu does).
  const verity = !s.initrd && s.measuredRootfs ? kernelVerityParams(await measuredVerity(s)) : undefined;
  const asset: Record<string, string | boolean> = s.initrd ? { initrd: initrdPath(s) } : { image: imagePath(s), rootfs_type: s.fsType, ...(verity ? { kernel_verity_params: verity } : {}) };
  const params: Record<string, string> = s.passthrough.length ? { kernel_params: s.passthrough.join(' ') } : {};
  // The DAX header is there for the nvdimm: without it (--no-dax, a measured image, arm64) Kata's qemu must not map one.
  const qemuOnly: Record<string, string | boolean> = { machine_type: arch === 'x86_64' ? 'q35' : 'virt', ...(s.initrd ? {} : { disable_image_nvdimm: !hasDaxHeader(s) }) };
  // A guest extension image osb sysext --for kata built: Kata's QEMU and (Rust) Cloud Hypervisor runtimes cold-plug it.
  const extensions: Record<string, Record<string, string>[]> = s.sysextFor === 'kata' && s.sysextName && existsSync(sysextVerityPath(s))
    ? { guest_extension_images: [{ name: s.sysextName, path: sysextPath(s), verity_params: await kataVerityParams(s) }] }
    : {};
  return {
    qemu: { kernel, ...asset, ...qemuOnly, ...params, ...extensions },
    clh: { kernel, ...asset, ...params, ...extensions },
    firecracker: { kernel, ...asset, ...params },
  };
}

export const run: CommandRun = async (cmd) => {
  const s = cmd.settings;
  requireOneArch(s, 'osb kata-config');
  const sections = await kataSections(s);
  const missing = [...new Set(Object.values(sections).flatMap((v) => [v.kernel, v.image ?? v.initrd]))].filter((p): p is string => typeof p === 'string' && !existsSync(p));
  for (const p of missing) process.stderr.write(`warning: ${p} does not exist yet (osb builds it: osb ${p === sections.qemu!.kernel ? 'kernel' : s.initrd ? 'initrd' : 'image'})\n`);
  process.stdout.write(`# Kata Containers configuration.toml: what osb built in ${s.workdir}\n# (osb kata-config; merge each section into the one of the hypervisor you use)\n`);
  process.stdout.write(stringify({ hypervisor: sections }) + '\n');
  return 0;
};
