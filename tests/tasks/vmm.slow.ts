/**
 * osb boot --vmm: each runtime's machine and command line, under qemu and TCG, to the agent's
 * ready line. The kernel is osb's (x86_64, CONFIG_PVH=y), started as the runtimes start it: the
 * uncompressed vmlinux through its PVH entry. qemu itself is the oracle for the PVH check: it
 * refuses the same kernel osb refuses.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { errorLine, osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';
import TOML from '@iarna/toml';

jest.setTimeout(45 * 60_000);
let wd: string;
let vmlinux: string;
/**
 * First in every command line: the workdir remembers what earlier commands were given (an erofs
 * image, a measured one), so each test starts from the same settings and then names its own.
 */
const common = () => ['--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel', vmlinux, '--boot-timeout', '180', '--agent-init', '--fs-type', 'ext4', '--no-measured-rootfs', '--dax'];

beforeAll(() => {
  vmlinux = join(dirname(guestKernel()), 'vmlinux.container');
  wd = mkdtempSync(join(tmpdir(), 'osb-vmm-'));
});
afterAll(() => rmSync(wd, { recursive: true, force: true }));

/** The boot reached the ready line; the command line osb printed (and ran). */
function booted(r: { code: number | null; stdout: string; stderr: string }): string {
  if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
  const line = /command line: (qemu-system-x86_64 .*)$/m.exec(r.stdout);
  expect(line).not.toBeNull();
  return line![1]!;
}

describe('the initrd, as each runtime boots it', () => {
  test('kata-qemu: q35, vmlinux, Kata\'s kernel parameters', () => {
    const line = booted(osb(['boot', ...common(), '--initrd', '--vmm', 'kata-qemu']));
    expect(line).toContain(' -machine q35 ');
    expect(line).toContain(`-kernel ${vmlinux} -initrd `);
    expect(line).toMatch(/tsc=reliable no_timer_check rcupdate\.rcu_expedited=1 .* pci=lastbus=0 console=ttyS0 quiet panic=1 nr_cpus=1 selinux=0/);
  });

  test('firecracker: a microvm with no PCI and no ACPI', () => {
    const line = booted(osb(['boot', ...common(), '--initrd', '--vmm', 'firecracker']));
    expect(line).toContain(' -machine microvm,acpi=off,pcie=off ');
    expect(line).toMatch(/pci=off reboot=k panic=1 iommu=off net\.ifnames=0 random\.trust_cpu=on acpi=off console=ttyS0/);
    expect(line).not.toMatch(/-pci|q35/);
  });

  test('cloud-hypervisor: vmlinux through PVH on an ACPI machine with virtio over PCI', () => {
    const line = booted(osb(['boot', ...common(), '--initrd', '--vmm', 'cloud-hypervisor']));
    expect(line).toContain(`-kernel ${vmlinux}`);
    expect(line).toMatch(/panic=1 no_timer_check noreplace-smp console=ttyS0,115200n8/);
  });
});

describe('the image, as each runtime boots it', () => {
  test('kata-qemu: the image as a read-only DAX nvdimm (root=/dev/pmem0p1, Kata\'s rootflags)', () => {
    const line = booted(osb(['boot', ...common(), '--image', '--vmm', 'kata-qemu', '--image-name', 'dax.img']));
    expect(line).toContain('-machine q35,nvdimm=on');
    expect(line).toMatch(/-device nvdimm,id=nv0,memdev=mem0,unarmed=on/);
    expect(line).toContain('root=/dev/pmem0p1 rootflags=dax,data=ordered,errors=remount-ro ro rootfstype=ext4');
  });

  test('kata-qemu --no-dax: virtio-blk over PCI', () => {
    const line = booted(osb(['boot', ...common(), '--image', '--vmm', 'kata-qemu', '--no-dax', '--image-name', 'blk.img']));
    expect(line).toContain('-device virtio-blk-pci,drive=rootfs');
    expect(line).toContain('root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4');
  });

  test.each([['ext4'], ['erofs']])('firecracker: %s on virtio-mmio block', (fs) => {
    const line = booted(osb(['boot', ...common(), '--image', '--vmm', 'firecracker', '--fs-type', fs, '--image-name', `fc-${fs}.img`]));
    expect(line).toContain('-device virtio-blk-device,drive=rootfs');
    expect(line).toContain(`root=/dev/vda1 rootflags=${fs === 'ext4' ? 'data=ordered,errors=remount-ro ro' : 'ro'} rootfstype=${fs}`);
  });

  test('cloud-hypervisor: virtio-blk over PCI, no nvdimm', () => {
    const line = booted(osb(['boot', ...common(), '--image', '--vmm', 'cloud-hypervisor', '--image-name', 'clh.img']));
    expect(line).toContain('-device virtio-blk-pci,drive=rootfs');
    expect(line).not.toContain('nvdimm');
  });

  test('kata-qemu, measured: the dm-verity line Kata passes, over virtio-blk; osb kata-config gives Kata what that boot used', () => {
    const args = [...common(), '--image', '--vmm', 'kata-qemu', '--measured-rootfs', '--image-name', 'verity.img'];
    const line = booted(osb(['boot', ...args]));
    const m = /dm-mod\.create="dm-verity,,,ro,0 (\d+) verity 1 \/dev\/vda1 \/dev\/vda2 (\d+) (\d+) (\d+) 0 sha256 ([0-9a-f]{64}) ([0-9a-f]+)" root=\/dev\/dm-0 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4/.exec(line);
    expect(m).not.toBeNull();
    const [, sectors, dataBlockSize, hashBlockSize, dataBlocks, rootHash, salt] = m!;
    expect(readFileSync(join(wd, 'root_hash.txt'), 'utf8')).toContain(`root_hash=${rootHash}\n`);
    expect(Number(sectors)).toBe((Number(dataBlocks) * Number(dataBlockSize)) / 512);
    // Kata's parser of configuration.toml is Go's; @iarna/toml is another implementation than the one osb writes with.
    const r = osb(['kata-config', ...args.filter((a) => a !== '--vmm' && a !== 'kata-qemu')]);
    expect(r.code).toBe(0);
    const doc = TOML.parse(r.stdout) as { hypervisor: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.hypervisor)).toEqual(['qemu', 'clh', 'firecracker']);
    for (const h of Object.values(doc.hypervisor)) {
      expect(h.kernel).toBe(vmlinux);
      expect(h.image).toBe(join(wd, 'verity.img'));
      expect(h.rootfs_type).toBe('ext4');
      expect(h.kernel_verity_params).toBe(`root_hash=${rootHash},salt=${salt},data_blocks=${dataBlocks},data_block_size=${dataBlockSize},hash_block_size=${hashBlockSize}`);
    }
    expect(doc.hypervisor.qemu).toMatchObject({ machine_type: 'q35', disable_image_nvdimm: true });
  });

  test('osb kata-config for the DAX image keeps the nvdimm, for the initrd names it, with kernel_params from after --', () => {
    const dax = TOML.parse(osb(['kata-config', ...common(), '--image-name', 'dax.img']).stdout) as { hypervisor: { qemu: Record<string, unknown> } };
    expect(dax.hypervisor.qemu).toEqual({ kernel: vmlinux, image: join(wd, 'dax.img'), rootfs_type: 'ext4', machine_type: 'q35', disable_image_nvdimm: false });
    const initrd = TOML.parse(osb(['kata-config', ...common(), '--initrd', '--', 'agent.log=debug']).stdout) as { hypervisor: { firecracker: Record<string, unknown> } };
    expect(initrd.hypervisor.firecracker).toEqual({ kernel: vmlinux, initrd: join(wd, 'osb-initrd.img'), kernel_params: 'agent.log=debug' });
  });
});

describe('a kernel without the PVH entry', () => {
  test('is refused in one line naming CONFIG_PVH, and qemu refuses it too', () => {
    // osb's vmlinux with its PVH note's type changed: what a kernel built without CONFIG_PVH has.
    const bytes = readFileSync(vmlinux);
    const xen = Buffer.from('Xen\0', 'latin1');
    let patched = 0;
    for (let at = bytes.indexOf(xen); at >= 12; at = bytes.indexOf(xen, at + 1)) {
      if (bytes.readUInt32LE(at - 12) === 4 && bytes.readUInt32LE(at - 4) === 18) {
        bytes.writeUInt32LE(0x7fff, at - 4);
        patched++;
      }
    }
    expect(patched).toBe(1);
    const nopvh = join(wd, 'vmlinux-nopvh');
    writeFileSync(nopvh, bytes);
    const r = osb(['boot', ...common(), '--initrd', '--vmm', 'firecracker', '--kernel', nopvh]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toBe(`osb: boot failed: the firecracker profile starts vmlinux through its PVH entry, and ${nopvh} has none (built without CONFIG_PVH=y)`);
    const q = spawnSync('qemu-system-x86_64', ['-M', 'microvm', '-nographic', '-nodefaults', '-kernel', nopvh], { encoding: 'utf8', timeout: 30_000 });
    expect(q.stderr).toContain('without PVH ELF Note');
    // The unpatched kernel passes the same check.
    copyFileSync(vmlinux, join(wd, 'vmlinux-pvh'));
    expect(osb(['boot', ...common(), '--initrd', '--vmm', 'firecracker', '--dry-run', '--kernel', join(wd, 'vmlinux-pvh')]).code).toBe(0);
  });
});
