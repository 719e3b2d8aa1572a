/**
 * Alpine for aarch64 from this x86_64 host: the test repository on 127.0.0.1 (as for x86_64, see
 * tests/rootfs-builder/apk/helpers/test-repo.ts) built for aarch64 around Debian's arm64 static
 * busybox, which osb itself fetches here (an arm64 Debian rootfs with busybox-static). osb's apk
 * engine installs it; busybox's post-install and trigger (`busybox --install -s`) are arm64
 * binaries run in the chroot through qemu-aarch64 (binfmt_misc). The initrd then boots under
 * qemu-system-aarch64 to the agent's ready line.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';
import { buildTestRepo, osbAsync, serveRepo, type TestRepo } from '../rootfs-builder/apk/helpers/test-repo.js';

jest.setTimeout(60 * 60_000);

let kernel: string;
let repo: TestRepo;
let server: Awaited<ReturnType<typeof serveRepo>>;
let wd: string;
let bbWd: string;
const alpine = () => ['--distro', 'alpine', '--arch', 'aarch64', '--agent-init', '--workdir', wd, '--cache-dir', join(repo.root, 'cache'), '--mirror', `${server.url}/good`, '--keys-dir', repo.keysDir];

beforeAll(async () => {
  kernel = guestKernel('aarch64'); // before the server starts: these run osb synchronously
  bbWd = mkdtempSync(join(tmpdir(), 'osb-arm64-busybox-'));
  const bb = osb(['rootfs', '--arch', 'aarch64', '--agent-init', '--extra-pkgs', 'busybox-static', '--workdir', bbWd, '--cache-dir', join(TEST_CACHE, 'osb-cache')]);
  if (bb.code !== 0) throw new Error(`osb rootfs (arm64 busybox-static) failed:\n${bb.stdout}\n${bb.stderr}`);
  const busybox = readFileSync(join(bbWd, 'rootfs', 'usr', 'bin', 'busybox'));
  repo = buildTestRepo(mkdtempSync(join(tmpdir(), 'osb-alpine-arm64-repo-')), { arch: 'aarch64', busybox });
  server = await serveRepo(repo);
  wd = mkdtempSync(join(tmpdir(), 'osb-alpine-arm64-'));
});
afterAll(async () => {
  await server?.close();
  for (const d of [wd, bbWd, repo?.root]) if (d) rmSync(d, { recursive: true, force: true });
});

test('an aarch64 Alpine rootfs: scripts run through qemu-user, arm64 busybox, boots to ready under qemu-system-aarch64', async () => {
  const built = await osbAsync(['rootfs', ...alpine()]);
  if (built.code !== 0) throw new Error(`osb rootfs failed:\n${built.stdout}\n${built.stderr}`);
  expect(built.stdout).toMatch(/aarch64 package scripts run in the chroot through qemu-aarch64/);
  expect(server.requests).toContain('/good/v3.22/main/aarch64/APKINDEX.tar.gz');
  const root = join(wd, 'rootfs');
  expect(execFileSync('file', ['-L', join(root, 'bin/busybox')], { encoding: 'utf8' })).toMatch(/ELF 64-bit LSB .*ARM aarch64/);
  // Made by busybox's own post-install (`/bin/busybox --install -s`), an arm64 binary.
  for (const applet of ['bin/ls', 'sbin/poweroff']) expect(readlinkSync(join(root, applet))).toBe('/bin/busybox');
  expect(readFileSync(join(root, 'var/lib/osb-test/baselayout-post-install'), 'utf8')).toMatch(/root shell \/bin\/sh/);
  expect(readFileSync(join(root, 'etc/apk/arch'), 'utf8')).toBe('aarch64\n');
  const r = await osbAsync(['boot', '--initrd', ...alpine(), '--kernel', kernel, '--boot-timeout', '300']);
  if (r.code !== 0) throw new Error(`osb boot failed:\n${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toMatch(/ready after \d+\.\d+ s \(TCG/);
});
