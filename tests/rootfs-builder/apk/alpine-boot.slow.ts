/**
 * End to end for Alpine: osb builds the busybox-based Alpine rootfs from the test repository on
 * 127.0.0.1 with the built-in agent as /sbin/init, packs it into an initrd, and boots it with
 * osb's guest kernel under qemu until the agent's ready line appears.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { guestKernel } from '../../helpers/guest-kernel.js';
import { buildTestRepo, osbAsync, serveRepo, type TestRepo } from './helpers/test-repo.js';

jest.setTimeout(45 * 60_000);

let kernel: string;
let repo: TestRepo;
let server: Awaited<ReturnType<typeof serveRepo>>;
let wd: string;
const alpine = () => ['--distro', 'alpine', '--agent-init', '--workdir', wd, '--cache-dir', join(repo.root, 'cache'), '--mirror', `${server.url}/good`, '--keys-dir', repo.keysDir];

beforeAll(async () => {
  kernel = guestKernel(); // before the server starts: it runs osb synchronously
  repo = buildTestRepo(mkdtempSync(join(tmpdir(), 'osb-alpine-boot-repo-')));
  server = await serveRepo(repo);
  wd = mkdtempSync(join(tmpdir(), 'osb-alpine-boot-'));
});
afterAll(async () => {
  await server?.close();
  if (wd) rmSync(wd, { recursive: true, force: true });
  if (repo) rmSync(repo.root, { recursive: true, force: true });
});

test('the Alpine rootfs goes through osb initrd and osb boot to the agent ready line', async () => {
  const built = await osbAsync(['rootfs', ...alpine()]);
  if (built.code !== 0) throw new Error(`osb rootfs failed:\n${built.stdout}\n${built.stderr}`);
  const initrd = await osbAsync(['initrd', ...alpine()]);
  if (initrd.code !== 0) throw new Error(`osb initrd failed:\n${initrd.stdout}\n${initrd.stderr}`);
  const listing = execFileSync('sh', ['-c', `zstd -dc ${join(wd, 'osb-initrd.img')} | cpio -t --quiet`]).toString().split('\n');
  expect(listing).toEqual(expect.arrayContaining(['init', 'bin/busybox', 'bin/sh', 'lib/apk/db/installed', 'etc/apk/world']));
  const r = await osbAsync(['boot', '--initrd', ...alpine(), '--kernel', kernel, '--boot-timeout', '180']);
  if (r.code !== 0) throw new Error(`osb boot failed:\n${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
  // The initrd booted is the Alpine one just built: boot found rootfs and initrd up to date.
  expect(r.stdout).toContain('↓ rootfs [SKIPPED: up to date]');
  expect(r.stdout).toContain('↓ initrd [SKIPPED: up to date]');
  // As Kata's qemu and Firecracker boot it: the vmlinux through PVH, their machines and parameters.
  for (const vmm of ['kata-qemu', 'firecracker']) {
    const p = await osbAsync(['boot', '--initrd', ...alpine(), '--vmm', vmm, '--kernel', join(dirname(kernel), 'vmlinux.container'), '--boot-timeout', '180']);
    if (p.code !== 0) throw new Error(`osb boot --vmm ${vmm} failed:\n${p.stdout}\n${p.stderr}`);
    expect(p.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
  }
});
