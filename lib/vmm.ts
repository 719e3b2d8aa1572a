/**
 * The machine and kernel command line each runtime boots a guest with, as qemu command lines,
 * so that what osb proves boots is what the runtime boots. The kernel parameters are the ones
 * Kata's runtime passes (kata-containers src/runtime/virtcontainers):
 * - qemu_amd64.go `kernelParams`, qemu_arch_base.go (`quiet`, the legacy serial's console=ttyS0),
 *   qemu.go `defaultKernelParameters` (panic=1), nr_cpus and selinux=0 (disable_guest_selinux);
 * - clh.go `clhKernelParams` and its debug console (Cloud Hypervisor's serial);
 * - fc.go `fcKernelParams` and its debug console (Firecracker has no PCI and no ACPI);
 * - hypervisor.go `GetKernelRootParams`: the root device, rootflags and rootfstype, and the
 *   dm-verity line of a measured image.
 * `qemu` is osb's own boot (lib/qemu.ts): a bzImage on q35.
 */
import { extensionDisks, hasNvdimm, qemuArgv, qemuBase, type BootSpec } from './qemu.js';

export const VMM_PROFILES = ['qemu', 'kata-qemu', 'firecracker', 'cloud-hypervisor'] as const;
export type VmmProfile = (typeof VMM_PROFILES)[number];

/** Every profile but osb's own loads the uncompressed kernel (vmlinux): through PVH on x86_64. */
export const loadsVmlinux = (p: VmmProfile, arch: string): boolean => p !== 'qemu' && arch === 'x86_64';

/** The profiles each guest arch has here: Firecracker's model on arm64 is qemu `virt` with virtio-mmio. */
export const profilesFor = (arch: string): readonly VmmProfile[] => (arch === 'x86_64' ? VMM_PROFILES : ['qemu', 'firecracker']);

const KATA_QEMU = ['tsc=reliable', 'no_timer_check', 'rcupdate.rcu_expedited=1', 'i8042.direct=1', 'i8042.dumbkbd=1', 'i8042.nopnp=1', 'i8042.noaux=1', 'noreplace-smp', 'reboot=k', 'cryptomgr.notests', 'net.ifnames=0', 'pci=lastbus=0'];
const CLH = ['panic=1', 'no_timer_check', 'noreplace-smp'];
const FC = ['pci=off', 'reboot=k', 'panic=1', 'iommu=off', 'net.ifnames=0', 'random.trust_cpu=on', 'acpi=off'];

type Image = Extract<BootSpec['artifact'], { kind: 'image' }>;

/** GetKernelRootParams: nvdimm (DAX) or virtio-blk, the filesystem's flags, or the dm-verity device. */
export function kataRootParams(a: Image, nvdimm: boolean): string[] {
  const fs = a.fsType;
  if (a.verityTable) {
    const flags = fs === 'ext4' ? 'data=ordered,errors=remount-ro ro' : 'ro';
    return [`dm-mod.create="dm-verity,,,ro,${a.verityTable}"`, 'root=/dev/dm-0', `rootflags=${flags}`, `rootfstype=${fs}`];
  }
  const flags = fs === 'ext4' ? `${nvdimm ? 'dax,' : ''}data=ordered,errors=remount-ro ro` : `${nvdimm ? 'dax ' : ''}ro`;
  return [`root=${nvdimm ? '/dev/pmem0p1' : '/dev/vda1'}`, `rootflags=${flags}`, `rootfstype=${fs}`];
}

/** The kernel parameters of a profile, for an image or (no root parameters) an initrd. */
export function profileParams(p: Exclude<VmmProfile, 'qemu'>, arch: string, a: BootSpec['artifact'], nvdimm: boolean): string[] {
  const root = a.kind === 'image' ? kataRootParams(a, nvdimm) : [];
  if (p === 'kata-qemu') return [...KATA_QEMU, ...root, 'console=ttyS0', 'quiet', 'panic=1', 'nr_cpus=1', 'selinux=0'];
  if (p === 'cloud-hypervisor') return [...root, ...CLH, 'console=ttyS0,115200n8'];
  // Firecracker's serial is an 8250 (ttyS0); qemu's arm64 `virt` gives a PL011 (ttyAMA0).
  return [...root, ...FC, `console=${arch === 'x86_64' ? 'ttyS0' : 'ttyAMA0'}`];
}

/** The machine, memory and devices of a profile (the kernel and the command line are added by the caller). */
export function profileMachine(p: Exclude<VmmProfile, 'qemu'>, arch: string, b: BootSpec, nvdimm: boolean): string[] {
  const a = b.artifact;
  const disk = (bus: 'pci' | 'device', path: string, format: string) => ['-drive', `id=rootfs,file=${path},format=${format},if=none,readonly=on`, '-device', `virtio-blk-${bus},drive=rootfs`];
  if (p === 'firecracker') {
    // No PCI, no ACPI: the virtio-mmio devices reach the kernel on its command line
    // (virtio_mmio.device=, which qemu's microvm adds for each transport, as Firecracker does).
    const machine = arch === 'x86_64' ? ['-machine', 'microvm,acpi=off,pcie=off'] : ['-machine', 'virt,acpi=off'];
    return [...machine, '-m', String(b.memoryMiB), ...(a.kind === 'image' ? disk('device', a.path, a.format) : [])];
  }
  if (a.kind === 'image' && nvdimm) {
    // Kata's qemu: the image as a read-only nvdimm on q35, its DAX header mapping /dev/pmem0p1.
    const size = Math.ceil(a.sizeBytes / 1048576);
    return ['-machine', 'q35,nvdimm=on', '-m', `${b.memoryMiB}M,slots=2,maxmem=${b.memoryMiB + size + 1024}M`, '-object', `memory-backend-file,id=mem0,mem-path=${a.path},size=${size}M,readonly=on`, '-device', 'nvdimm,id=nv0,memdev=mem0,unarmed=on'];
  }
  // Cloud Hypervisor, and Kata's qemu without the nvdimm: virtio-blk over PCI on an ACPI machine.
  return ['-machine', 'q35', '-m', String(b.memoryMiB), ...(a.kind === 'image' ? disk('pci', a.path, a.format) : [])];
}

/**
 * The whole qemu command line of a boot under a profile. `b.kernel` is the file the profile
 * loads (vmlinux on x86_64, checked for its PVH entry by the caller); osb.poweroff=1 is osb's
 * own agent's (it powers the guest off after its ready line).
 */
export function vmmArgv(p: VmmProfile, b: BootSpec): string[] {
  if (p === 'qemu') return qemuArgv(b);
  const arch = b.arch ?? 'x86_64';
  const a = b.artifact;
  if (a.kind === 'squashfs' || a.kind === 'uki') throw new Error('the runtime profiles boot an image or an initrd');
  // Firecracker and Cloud Hypervisor have no nvdimm; Kata's qemu has one for an image with the DAX header.
  const nvdimm = p === 'kata-qemu' && a.kind === 'image' && a.nvdimm && !a.verityTable && hasNvdimm(arch);
  return [
    ...qemuBase(b),
    ...profileMachine(p, arch, b, nvdimm),
    ...extensionDisks(b, p === 'firecracker' ? 'device' : 'pci'),
    '-kernel', b.kernel,
    ...(a.kind === 'initrd' ? ['-initrd', a.path] : []),
    '-append', [...profileParams(p, arch, a, nvdimm), 'osb.poweroff=1', ...b.extraArgs].join(' '),
  ];
}
