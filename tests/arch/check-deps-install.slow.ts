/**
 * `osb check-deps --install --arch aarch64` installs qemu-user-static (and binfmt-support) when
 * they are missing, then enables the qemu-aarch64 binfmt handler (update-binfmts), which the
 * package's postinst does not do where no init system runs.
 */
import { afterAll, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cleanEnv, osb } from '../helpers/cli.js';

jest.setTimeout(15 * 60_000);
const apt = (args: string[]) => execFileSync('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: 'ignore' });

// Whatever happens, leave the host as .ci/run set it up: both packages, the handler enabled.
afterAll(() => {
  apt(['install', '-y', '-qq', '--no-install-recommends', 'qemu-user-static', 'binfmt-support']);
  execFileSync('sh', ['-c', 'grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || update-binfmts --enable qemu-aarch64']);
});

test('without qemu-user-static the aarch64 rootfs checks fail; --install brings it and the handler back', () => {
  apt(['remove', '-y', '-qq', 'qemu-user-static']);
  // Removing the package leaves the handler registered (F keeps the interpreter open): unregister
  // it too, as on a host that never had it.
  if (existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64')) writeFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', '-1');
  expect(existsSync('/usr/bin/qemu-aarch64-static')).toBe(false);
  const before = osb(['check-deps', 'rootfs', '--arch', 'aarch64']);
  expect(before.code).toBe(1);
  expect(before.stdout).toMatch(/^rootfs\s+qemu-aarch64-static\s+MISSING\s+missing: apt-get install qemu-user-static/m);
  expect(before.stdout).toMatch(/^rootfs\s+binfmt_misc handler qemu-aarch64\s+MISSING\s+no binfmt_misc handler for aarch64 is registered .*update-binfmts --enable qemu-aarch64/m);
  const r = osb(['check-deps', 'rootfs', '--arch', 'aarch64', '--install'], { env: cleanEnv() });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^rootfs\s+qemu-aarch64-static\s+ok/m);
  expect(r.stdout).toMatch(/^rootfs\s+binfmt_misc handler qemu-aarch64\s+ok\s+registered and enabled/m);
  expect(existsSync('/usr/bin/qemu-aarch64-static')).toBe(true);
});
