/**
 * osb boot --vmm without booting: --dry-run prints the one command line each profile would run,
 * and what a profile cannot boot is refused before anything is built. The boots themselves are in
 * vmm.slow.ts.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import TOML from '@iarna/toml';
import { errorLine, osb } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'osb-vmm-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const wd = join(dir, 'wd');

describe('osb boot --vmm --dry-run', () => {
  test.each([
    ['firecracker', ['--initrd'], /^ {2}would run: qemu-system-x86_64 .* -machine microvm,acpi=off,pcie=off -m \d+ -kernel \S+\/vmlinux\.container -initrd \S+ -append 'pci=off .* acpi=off console=ttyS0 osb\.poweroff=1'$/m],
    ['kata-qemu', ['--image'], /^ {2}would run: qemu-system-x86_64 .* -machine q35,nvdimm=on .* -kernel \S+\/vmlinux\.container -append 'tsc=reliable .* root=\/dev\/pmem0p1 rootflags=dax,data=ordered,errors=remount-ro ro rootfstype=ext4 console=ttyS0 quiet panic=1 nr_cpus=1 selinux=0 osb\.poweroff=1'$/m],
    ['cloud-hypervisor', ['--image'], /^ {2}would run: qemu-system-x86_64 .* -machine q35 -m \d+ -drive id=rootfs,file=\S+,format=raw,if=none,readonly=on -device virtio-blk-pci,drive=rootfs -kernel \S+\/vmlinux\.container -append 'root=\/dev\/vda1 .* panic=1 no_timer_check noreplace-smp console=ttyS0,115200n8 osb\.poweroff=1'$/m],
    ['qemu', ['--initrd'], /^ {2}would run: qemu-system-x86_64 .* -machine q35 -m \d+ -kernel \S+\/vmlinuz\.container -initrd /m],
  ])('%s: the command line, and nothing written', (vmm, what, line) => {
    const r = osb(['boot', ...what, '--vmm', vmm, '--agent-init', '--dry-run', '--workdir', wd]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(line);
    expect(existsSync(wd)).toBe(false);
  });
});

describe('osb boot --sysext --dry-run', () => {
  test.each([
    ['qemu', 'pci'],
    ['cloud-hypervisor', 'pci'],
    ['kata-qemu', 'pci'],
    ['firecracker', 'device'],
  ])('%s: the extension a read-only virtio disk after the root, its name as the serial; the plan builds it', (vmm, bus) => {
    const tree = join(dir, 'devtools');
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    const r = osb(['boot', '--image', '--no-dax', '--vmm', vmm, '--agent-init', '--sysext', '--sysext-name', 'devtools', '--sysext-tree', tree, '--dry-run', '--workdir', wd]);
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('  would run: qemu-system-x86_64'))!;
    expect(line).toContain(` -drive id=ext0,file=${join(wd, 'devtools.raw')},format=raw,if=none,readonly=on -device virtio-blk-${bus},drive=ext0,serial=extension-devtools${bus === 'pci' ? ',addr=0x18' : ''} `);
    expect(line.indexOf('devtools.raw')).toBeGreaterThan(line.indexOf('osb.img'));
    expect(r.stdout).toMatch(/sysext/);
    expect(existsSync(wd)).toBe(false);
  });
});

describe('osb boot --sysext --for kata --dry-run', () => {
  test("Kata's kernel parameter for the extension's verity parameters, after the disk; the plan builds the extension first", () => {
    const tree = join(dir, 'coco');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    const r = osb(['boot', '--image', '--no-dax', '--agent-init', '--sysext', '--for', 'kata', '--sysext-name', 'coco', '--sysext-tree', tree, '--dry-run', '--workdir', wd]);
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('  would run: qemu-system-x86_64'))!;
    expect(line).toContain(`-device virtio-blk-pci,drive=ext0,serial=extension-coco,addr=0x18 `);
    expect(line).toMatch(/ -append '[^']* kata\.extension\.coco\.verity_params=\(from osb sysext\)'$/);
    expect(r.stdout).toMatch(/^sysext: would build/m);
    expect(existsSync(wd)).toBe(false);
  });

  test('a Kata extension with --uki: one line, exit 2', () => {
    const r = osb(['boot', '--uki', '--sysext', '--for', 'kata', '--sysext-name', 'coco', '--sysext-tree', join(dir, 'coco'), '--dry-run', '--workdir', wd]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe("osb: a Kata guest extension's verity parameters go on the kernel command line, and the UKI's is its own, measured");
  });
});

describe('what a profile cannot boot is refused before any work', () => {
  test('an extension name that does not fit the serial', () => {
    const tree = join(dir, 'developer-tools');
    mkdirSync(join(tree, 'usr'), { recursive: true });
    const r = osb(['boot', '--sysext', '--sysext-name', 'developer-tools', '--sysext-tree', tree, '--dry-run', '--workdir', wd]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe('osb: osb boot --sysext names the disk extension-developer-tools, longer than the 20 bytes of a virtio-blk serial');
    expect(existsSync(wd)).toBe(false);
  });

  test('an arm64 guest under kata-qemu', () => {
    const r = osb(['boot', '--vmm', 'kata-qemu', '--arch', 'aarch64', '--workdir', wd]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe('osb: the kata-qemu profile boots x86_64 guests');
    expect(r.stderr).toContain('osb: hint: boot aarch64 guests with --vmm qemu or --vmm firecracker');
    expect(existsSync(wd)).toBe(false);
  });

  test('the squashfs under firecracker', () => {
    const r = osb(['boot', '--squashfs', '--vmm', 'firecracker', '--workdir', wd]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe('osb: the firecracker profile boots an image or an initrd, not the squashfs');
  });

  test('a profile osb does not know', () => {
    const r = osb(['boot', '--vmm', 'crosvm', '--workdir', wd]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe("osb: --vmm must be one of qemu, kata-qemu, firecracker, cloud-hypervisor; got 'crosvm'");
  });
});

describe('osb kata-config', () => {
  test('names the vmlinux, the image and its filesystem for each hypervisor, and says what is not built yet', () => {
    const r = osb(['kata-config', '--workdir', wd, '--fs-type', 'erofs', '--no-dax']);
    expect(r.code).toBe(0);
    const doc = TOML.parse(r.stdout) as { hypervisor: Record<string, Record<string, unknown>> };
    expect(doc.hypervisor.qemu).toEqual({ kernel: join(wd, 'vmlinux.container'), image: join(wd, 'osb.img'), rootfs_type: 'erofs', machine_type: 'q35', disable_image_nvdimm: true });
    expect(doc.hypervisor.clh).toEqual({ kernel: join(wd, 'vmlinux.container'), image: join(wd, 'osb.img'), rootfs_type: 'erofs' });
    expect(r.stderr).toContain(`warning: ${join(wd, 'vmlinux.container')} does not exist yet (osb builds it: osb kernel)`);
    expect(existsSync(wd)).toBe(false);
  });

  test('a measured image without its root hash file is refused, naming the command that writes it', () => {
    const r = osb(['kata-config', '--workdir', wd, '--measured-rootfs']);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toBe(`osb: the measured image has no root hash file: ${join(wd, 'root_hash.txt')} does not exist`);
  });
});
