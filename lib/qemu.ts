/**
 * qemu command lines for booting osb's artifacts, and the KVM probe. The lines follow what
 * booted on these machines (see KATA-COMPAT.md): virtio-blk or nvdimm root for images, an initrd
 * with rdinit for initrds, the serial console on stdio.
 */
export type Accel = 'kvm' | 'tcg';

/** Guest architectures osb boots. */
export type GuestArch = 'x86_64' | 'aarch64';

/**
 * Per arch: the qemu binary, the machine for each artifact kind, the CPU under TCG and the
 * serial console's name in the guest. arm64 "virt" has a PL011 UART (ttyAMA0), virtio over
 * PCI (ECAM) and MMIO, PSCI for poweroff, and no nvdimm without ACPI, so images go over
 * virtio-blk. `-cpu max` under TCG with pauth-impdef: QEMU's own pointer-auth algorithm instead
 * of emulating QARMA5, which otherwise dominates TCG time (qemu docs, "Arm CPU Features").
 */
const ARCHES: Record<GuestArch, { qemu: string; machine: string; tcgCpu: readonly string[]; console: string }> = {
  x86_64: { qemu: 'qemu-system-x86_64', machine: 'q35', tcgCpu: [], console: 'ttyS0' },
  aarch64: { qemu: 'qemu-system-aarch64', machine: 'virt', tcgCpu: ['-cpu', 'max,pauth-impdef=on'], console: 'ttyAMA0' },
};

export const qemuBinary = (arch: GuestArch = 'x86_64'): string => ARCHES[arch].qemu;

/** Whether osb can boot this arch (and a DAX/nvdimm image on it). */
export const isGuestArch = (arch: string): arch is GuestArch => arch in ARCHES;
export const hasNvdimm = (arch: string): boolean => arch === 'x86_64';

export interface BootSpec {
  /** @default 'x86_64' */
  readonly arch?: GuestArch;
  readonly kernel: string;
  readonly accel: Accel;
  readonly memoryMiB: number;
  readonly extraArgs: readonly string[];
  /**
   * Extension images attached after the root as read-only virtio disks, each with the serial
   * `extension-NAME` Kata gives a guest extension image, so the guest finds it by name in
   * /sys/block/<dev>/serial (virtio-blk keeps 20 bytes: NAME at most 10 characters).
   */
  readonly extensions?: readonly { readonly path: string; readonly name: string }[];
  readonly artifact:
    | { readonly kind: 'initrd'; readonly path: string }
    /**
     * A Unified Kernel Image booted by UEFI firmware (OVMF) from an EFI system partition, with a
     * software TPM: no -kernel and no -append (the command line is the UKI's own, measured).
     */
    | { readonly kind: 'uki'; readonly esp: string; readonly code: string; readonly vars: string; readonly secureBoot: boolean; readonly tpmSocket: string; readonly disk?: { readonly path: string; readonly format: 'raw' | 'qcow2' } }
    /** A squashfs root on a read-only virtio disk, mounted by a boot initrd under a tmpfs overlay. */
    | { readonly kind: 'squashfs'; readonly path: string; readonly bootInitrd: string }
    | {
        readonly kind: 'image';
        readonly path: string;
        readonly format: 'raw' | 'qcow2';
        readonly fsType: 'ext4' | 'xfs' | 'erofs';
        /** Boot as a QEMU nvdimm (the image has the DAX header), as Kata does. */
        readonly nvdimm: boolean;
        /**
         * Measured rootfs: the `dm-mod.create="..." root=/dev/dm-0` arguments (root_hash.txt's
         * kernel_cmdline); the kernel sets the verity device up over vda1 + vda2 and mounts it.
         */
        readonly verityCmdline?: string;
        /** The same device's dm table ("0 SECTORS verity 1 /dev/vda1 /dev/vda2 ..."), for the runtimes' own form of the line. */
        readonly verityTable?: string;
        readonly sizeBytes: number;
      };
}

/** Guest memory for an initrd: the kernel unpacks it into RAM (512 MiB failed for a 190 MB initrd). */
export function memoryFor(initrdBytes: number, compressed: boolean): number {
  const unpacked = (initrdBytes / 1048576) * (compressed ? 4 : 1);
  return Math.max(512, Math.ceil((256 + 2 * unpacked) / 64) * 64);
}

/**
 * The -drive/-device pairs of `b.extensions`, on PCI or (no PCI: Firecracker's model) virtio-mmio.
 * On PCI they take slots from 0x18 up: qemu places `if=virtio` drives after every -device, so
 * without an address an extension would come before the root and be /dev/vda, which root= names.
 */
export function extensionDisks(b: Pick<BootSpec, 'extensions'>, bus: 'pci' | 'device' = 'pci'): string[] {
  return (b.extensions ?? []).flatMap((e, i) => ['-drive', `id=ext${i},file=${e.path},format=raw,if=none,readonly=on`, '-device', `virtio-blk-${bus},drive=ext${i},serial=extension-${e.name}${bus === 'pci' ? `,addr=0x${(0x18 + i).toString(16)}` : ''}`]);
}

/** What every boot starts with: the binary, no graphics, no reboot, the serial console on stdio, one CPU, the accelerator. */
export function qemuBase(b: Pick<BootSpec, 'arch' | 'accel'>): string[] {
  const arch = ARCHES[b.arch ?? 'x86_64'];
  return [arch.qemu, '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-smp', '1', ...(b.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', ...arch.tcgCpu])];
}

export function qemuArgv(b: BootSpec): string[] {
  const arch = ARCHES[b.arch ?? 'x86_64'];
  const argv = qemuBase(b);
  const append = [`console=${arch.console}`, 'panic=-1', 'osb.poweroff=1'];
  const a = b.artifact;
  if (a.kind === 'uki') {
    // Secure Boot's firmware keeps its variables in SMM-only flash: the machine needs SMM.
    argv.push('-machine', a.secureBoot ? 'q35,smm=on' : 'q35', ...(a.secureBoot ? ['-global', 'driver=cfi.pflash01,property=secure,value=on'] : []), '-m', String(b.memoryMiB));
    argv.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${a.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${a.vars}`);
    // A measured image first, so it is /dev/vda, the disk the UKI's dm-verity line names.
    if (a.disk) argv.push('-drive', `file=${a.disk.path},format=${a.disk.format},if=virtio,readonly=on`);
    // qemu's vvfat serves the directory as a FAT disk; OVMF boots its EFI/BOOT/BOOTX64.EFI.
    argv.push('-drive', `if=virtio,format=raw,readonly=on,file=fat:${a.esp}`);
    argv.push('-chardev', `socket,id=chrtpm,path=${a.tpmSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0');
    argv.push(...extensionDisks(b));
    return argv;
  }
  if (a.kind === 'initrd') {
    argv.push('-machine', arch.machine, '-m', String(b.memoryMiB), '-kernel', b.kernel, '-initrd', a.path);
    append.push('rdinit=/init');
  } else if (a.kind === 'squashfs') {
    argv.push('-machine', arch.machine, '-m', String(b.memoryMiB), '-kernel', b.kernel, '-initrd', a.bootInitrd);
    argv.push('-drive', `file=${a.path},format=raw,if=virtio,readonly=on`);
    append.push('rdinit=/init', 'osb.squashfs=/dev/vda');
  } else if (a.nvdimm && !a.verityCmdline && hasNvdimm(b.arch ?? 'x86_64')) {
    // The image's first 4 KiB page holds the PFN info block the kernel needs to expose
    // /dev/pmem0p1 with DAX; without it rootflags=dax panics ("DAX unsupported by block device").
    const size = Math.ceil(a.sizeBytes / 1048576);
    argv.push('-machine', 'pc,nvdimm=on', '-m', `${b.memoryMiB}M,slots=2,maxmem=${b.memoryMiB + size + 1024}M`);
    argv.push('-object', `memory-backend-file,id=mem0,mem-path=${a.path},size=${size}M,readonly=on`, '-device', 'nvdimm,id=nv0,memdev=mem0,unarmed=on');
    argv.push('-kernel', b.kernel);
    append.push('root=/dev/pmem0p1', `rootfstype=${a.fsType}`, 'ro', ...(a.fsType === 'erofs' ? [] : ['rootflags=dax']));
  } else {
    argv.push('-machine', arch.machine, '-m', String(b.memoryMiB), '-kernel', b.kernel);
    argv.push('-drive', `file=${a.path},format=${a.format},if=virtio,readonly=on`);
    append.push(...(a.verityCmdline ? [a.verityCmdline] : ['root=/dev/vda1']), `rootfstype=${a.fsType}`, 'ro');
  }
  argv.push(...extensionDisks(b));
  argv.push('-append', [...append, ...b.extraArgs].join(' '));
  return argv;
}

/** The first line any kernel prints: seeing it proves the accelerator runs guests. */
export const KERNEL_BANNER = /Linux version \d/;
