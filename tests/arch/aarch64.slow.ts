/**
 * End to end on this x86_64 host: osb builds a Debian bookworm arm64 rootfs (mmdebstrap, the
 * package scripts run by qemu-user through binfmt_misc), a cross-compiled arm64 kernel, an
 * initrd and a GPT image of that rootfs, and boots both under qemu-system-aarch64 (TCG) to the
 * agent's ready line. Then it checks that everything osb wrote says aarch64.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';

jest.setTimeout(60 * 60_000);
let wd: string;
let kernel: string;
// One cache with the x86_64 tests: debs and base trees are kept apart by architecture in their keys.
const common = () => ['--arch', 'aarch64', '--agent-init', '--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache')];
const boot = () => [...common(), '--kernel', kernel, '--boot-timeout', '300', '--verbose'];

beforeAll(() => {
  kernel = guestKernel('aarch64');
  wd = mkdtempSync(join(tmpdir(), 'osb-arm64-'));
});
afterAll(() => rmSync(wd, { recursive: true, force: true }));

function expectReady(r: { code: number | null; stdout: string; stderr: string }) {
  if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toMatch(/ready after \d+\.\d+ s \(TCG/);
  expect(r.stdout).toMatch(/^(› )?osb-agent: ready uptime=/m);
}

describe('aarch64 guests from an x86_64 host', () => {
  test('the cross-compiled kernel is an arm64 Image, with its vmlinux', () => {
    expect(execFileSync('file', ['-L', kernel], { encoding: 'utf8' })).toMatch(/Linux kernel ARM64 boot executable Image/);
    expect(execFileSync('file', ['-L', join(kernel, '..', 'vmlinux.container')], { encoding: 'utf8' })).toMatch(/ELF 64-bit LSB .*ARM aarch64/);
  });

  test('osb boot --initrd --arch aarch64 builds the arm64 rootfs and initrd and reaches the ready line', () => {
    const r = osb(['boot', '--initrd', ...boot()]);
    expectReady(r);
    // The guest is really arm64, on the PL011.
    expect(r.stdout).toMatch(/Machine model: linux,dummy-virt/);
    expect(r.stdout).toMatch(/ttyAMA0/);
    // The agent's poweroff reaches qemu through PSCI SYSTEM_OFF.
    expect(r.stdout).toMatch(/reboot: Power down/);
  });

  test("the rootfs's binaries are ARM aarch64 and the manifest's packages arm64", () => {
    const rootfs = join(wd, 'rootfs');
    for (const bin of ['usr/bin/dpkg', 'usr/bin/bash', 'usr/lib/aarch64-linux-gnu/libc.so.6']) {
      expect(execFileSync('file', ['-L', join(rootfs, bin)], { encoding: 'utf8' })).toMatch(/ELF 64-bit LSB .*ARM aarch64/);
    }
    const m = JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8')) as { arch: string; packages: { name: string; arch: string }[] };
    expect(m.arch).toBe('aarch64');
    expect(m.packages.length).toBeGreaterThan(50);
    expect(m.packages.filter((p) => p.arch !== 'arm64' && p.arch !== 'all')).toEqual([]);
    expect(m.packages.find((p) => p.name === 'libc6')?.arch).toBe('arm64');
    // Kata's description of the build inside the rootfs says it too.
    expect(readFileSync(join(rootfs, 'var/lib/osbuilder/osbuilder.yaml'), 'utf8')).toMatch(/^architecture: aarch64$/m);
  });

  test('osb boot --image --arch aarch64: a GPT image with the arm64 root type, no DAX header, over virtio-blk', () => {
    const r = osb(['boot', '--image', '--partition-table', 'gpt', ...boot()]);
    expectReady(r);
    expect(r.stdout).toMatch(/no DAX header: aarch64 guests have no nvdimm/);
    expect(r.stdout).toMatch(/vda: vda1/);
    const img = readdirSync(wd).find((n) => n === 'osb.img');
    expect(img).toBe('osb.img');
    const t = JSON.parse(execFileSync('sfdisk', ['--json', join(wd, 'osb.img')], { encoding: 'utf8' })) as { partitiontable: { label: string; partitions: { start: number; type: string }[] } };
    expect(t.partitiontable.label).toBe('gpt');
    expect(t.partitiontable.partitions[0]).toMatchObject({ start: 2048, type: 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE' });
  });

  test('osb boot --vmm firecracker --arch aarch64: qemu virt with virtio-mmio only and no ACPI, initrd and image', () => {
    for (const what of [['--initrd'], ['--image', '--partition-table', 'gpt']]) {
      const r = osb(['boot', ...what, '--vmm', 'firecracker', ...boot()]);
      expectReady(r);
      const line = /command line: (qemu-system-aarch64 .*)$/m.exec(r.stdout)?.[1] ?? '';
      expect(line).toContain(' -machine virt,acpi=off ');
      expect(line).toMatch(/pci=off reboot=k panic=1 iommu=off net\.ifnames=0 random\.trust_cpu=on acpi=off console=ttyAMA0/);
      if (what[0] === '--image') expect(line).toContain('-device virtio-blk-device,drive=rootfs');
    }
  });

  test('the OCI image config says arm64/v8', () => {
    const r = osb(['oci', ...common()]);
    if (r.code !== 0) throw new Error(`osb oci failed:\n${r.stdout}\n${r.stderr}`);
    const layout = join(wd, 'osb-oci');
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; platform?: { architecture: string; variant?: string } }[] };
    const blob = (d: string) => JSON.parse(readFileSync(join(layout, 'blobs', ...d.split(':')), 'utf8'));
    const manifest = blob(index.manifests[0]!.digest) as { config: { digest: string } };
    const config = blob(manifest.config.digest) as { architecture: string; variant?: string; os: string };
    expect(config).toMatchObject({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });
});
