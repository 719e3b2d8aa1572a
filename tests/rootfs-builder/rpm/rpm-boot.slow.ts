/**
 * End to end for the RPM formats: a Fedora agent-init rootfs that dnf installed from the signed
 * test repository goes through `osb initrd` and boots to the agent's ready line; an openSUSE one
 * that zypper installed goes through `osb image` and boots from the disk. osb's guest kernel.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { guestKernel } from '../../helpers/guest-kernel.js';
import { isRoot } from '../../helpers/fixture-rootfs.js';
import { buildRpmTestRepos, rootfsArgs, runOsb, serveRpmRepos, type RpmTestRepos, type Served } from './helpers.js';

jest.setTimeout(45 * 60_000);

let kernel: string;
let repos: RpmTestRepos;
let server: Served;
let scratch: string;

beforeAll(async () => {
  kernel = guestKernel(); // before the server starts: it runs osb synchronously
  scratch = mkdtempSync(join(tmpdir(), 'osb-rpm-boot-'));
  repos = buildRpmTestRepos(join(scratch, 'repos'));
  server = await serveRpmRepos(repos);
});
afterAll(async () => {
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The uncompressed kernel beside osb's vmlinuz: what the runtimes' profiles boot. */
const vmlinux = () => join(dirname(kernel), 'vmlinux.container');

const ok = (what: string, r: { code: number | null; stdout: string; stderr: string }) => {
  if (r.code !== 0) throw new Error(`${what} failed:\n${r.stdout}\n${r.stderr}`);
};

(isRoot ? test : test.skip)('Fedora: osb rootfs (dnf) → osb initrd → osb boot --initrd reaches the ready line', async () => {
  const args = rootfsArgs('fedora', join(scratch, 'fedora'), `${server.url}/good`, repos).slice(1);
  ok('osb rootfs', await runOsb(['rootfs', ...args]));
  ok('osb initrd', await runOsb(['initrd', ...args]));
  const listing = execFileSync('sh', ['-c', `zstd -dc ${join(scratch, 'fedora', 'osb-initrd.img')} | cpio -t --quiet`]).toString().split('\n');
  expect(listing).toEqual(expect.arrayContaining(['init', 'usr/bin/busybox', 'usr/lib/sysimage/rpm/rpmdb.sqlite', 'var/lib/osb-test/busybox-post']));
  const r = await runOsb(['boot', '--initrd', ...args, '--kernel', kernel, '--boot-timeout', '180']);
  ok('osb boot', r);
  expect(r.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
  expect(r.stdout).toContain('↓ rootfs [SKIPPED: up to date]');
  expect(r.stdout).toContain('↓ initrd [SKIPPED: up to date]');
  // As Kata's qemu and Firecracker boot it: the vmlinux through PVH, their machines and parameters.
  for (const vmm of ['kata-qemu', 'firecracker']) {
    const p = await runOsb(['boot', '--initrd', ...args, '--vmm', vmm, '--kernel', vmlinux(), '--boot-timeout', '180']);
    ok(`osb boot --vmm ${vmm}`, p);
    expect(p.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
  }
});

(isRoot ? test : test.skip)('openSUSE: osb rootfs (zypper) → osb image → osb boot reaches the ready line', async () => {
  const args = rootfsArgs('opensuse', join(scratch, 'opensuse'), `${server.url}/good`, repos).slice(1);
  ok('osb rootfs', await runOsb(['rootfs', ...args]));
  ok('osb image', await runOsb(['image', ...args]));
  const r = await runOsb(['boot', ...args, '--kernel', kernel, '--boot-timeout', '180']);
  ok('osb boot', r);
  expect(r.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
  expect(r.stdout).toContain('↓ rootfs [SKIPPED: up to date]');
  expect(r.stdout).toContain('↓ image [SKIPPED: up to date]');
  for (const vmm of ['kata-qemu', 'firecracker']) {
    const p = await runOsb(['boot', ...args, '--vmm', vmm, '--kernel', vmlinux(), '--boot-timeout', '180']);
    ok(`osb boot --vmm ${vmm}`, p);
    expect(p.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
    expect(p.stdout).toMatch(vmm === 'kata-qemu' ? /root=\/dev\/pmem0p1 rootflags=dax,/ : /root=\/dev\/vda1 .*acpi=off/);
  }
});
