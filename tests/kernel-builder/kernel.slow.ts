/** osb kernel for real: Debian's linux-source-6.1 with osb's fragments. */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { guestKernel, KERNEL_WORKDIR } from '../helpers/guest-kernel.js';

jest.setTimeout(45 * 60_000);
let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'osb-kernel-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('osb kernel', () => {
  test('builds a bzImage with the guest options, and a second run is skipped', () => {
    const vmlinuz = guestKernel();
    expect(execFileSync('file', ['-L', vmlinuz], { encoding: 'utf8' })).toMatch(/Linux kernel x86 boot executable bzImage, version 6\.1\./);
    const config = readFileSync(join(KERNEL_WORKDIR, 'kernel.config'), 'utf8');
    for (const o of ['VIRTIO_BLK', 'VIRTIO_PCI', 'EXT4_FS', 'XFS_FS', 'EROFS_FS', 'BLK_DEV_PMEM', 'FS_DAX', 'VIRTIO_VSOCKETS', 'RD_ZSTD', 'RD_GZIP', 'RD_XZ', 'RD_LZ4', 'CGROUPS', 'SERIAL_8250_CONSOLE']) {
      expect(config).toContain(`CONFIG_${o}=y\n`);
    }
    expect(config).not.toMatch(/^CONFIG_MODULES=y$/m);
    expect(execFileSync('file', ['-L', join(KERNEL_WORKDIR, 'vmlinux.container')], { encoding: 'utf8' })).toMatch(/ELF 64-bit LSB executable, x86-64/);
    const again = osb(['kernel', '--workdir', KERNEL_WORKDIR, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--log-format', 'ndjson']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout.trim())).toMatchObject({ event: 'skip', target: 'kernel', reason: 'up to date' });
  });

  test('a fragment option the kernel cannot enable fails with the list; an unknown one is warned', () => {
    const frag = join(scratch, 'bad.conf');
    // KVM (host virtualization) depends on VIRTUALIZATION, which osb's fragments leave off.
    writeFileSync(frag, 'CONFIG_KVM=y\nCONFIG_OSB_NO_SUCH_OPTION=y\n');
    const r = osb(['kernel', '--workdir', join(scratch, 'wd'), '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel-config-fragment', frag]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`osb: kernel failed: the kernel dropped 1 option(s) the config fragments asked for: CONFIG_KVM=y (${frag}:1) ended up not set; it depends on`);
    expect(r.stderr).toContain(`warning: kernel: CONFIG_OSB_NO_SUCH_OPTION (${frag}:2) is not an option of this kernel; ignored`);
    expect(() => readFileSync(join(scratch, 'wd', 'vmlinuz.container'))).toThrow();
  });

  test('a fragment with a syntax error names the line', () => {
    const frag = join(scratch, 'syntax.conf');
    writeFileSync(frag, 'CONFIG_EXT4_FS=y\nCONFIG_XFS_FS yes\n');
    const r = osb(['kernel', '--workdir', join(scratch, 'wd2'), '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel-config-fragment', frag]);
    expect(r.code).toBe(1);
    // Refused while planning, before the source is unpacked.
    expect(errorLine(r.stderr)).toBe(`osb: syntax error in kernel config fragment ${frag}:2: 'CONFIG_XFS_FS yes'`);
  });

  test('bad --kernel-version and a source directory that is not a kernel tree', () => {
    const r = osb(['kernel', '--workdir', join(scratch, 'wd3'), '--kernel-version', 'six']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("osb: --kernel-version 'six' is not a kernel version");
    const r2 = osb(['kernel', '--workdir', join(scratch, 'wd3'), '--kernel-src', scratch]);
    expect(r2.code).toBe(1);
    expect(r2.stderr.split('\n')[0]).toBe(`osb: ${scratch} is not a kernel source tree (no Makefile, Kconfig and scripts/kconfig)`);
  });

  test('a missing compiler: check-deps names the package', () => {
    const r = osb(['check-deps', 'kernel'], { env: cleanEnv({ PATH: '/nonexistent' }) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^kernel\s+gcc\s+MISSING\s+missing: apt-get install gcc/m);
  });

  test('install-kernel installs atomically and never overwrites a foreign file', () => {
    guestKernel();
    const prefix = join(scratch, 'share-kata');
    const r = osb(['install-kernel', '--workdir', KERNEL_WORKDIR, '--prefix', prefix]);
    expect(r.code).toBe(0);
    expect(execFileSync('file', ['-L', join(prefix, 'vmlinuz.container')], { encoding: 'utf8' })).toMatch(/bzImage/);
    expect(osb(['install-kernel', '--workdir', KERNEL_WORKDIR, '--prefix', prefix]).code).toBe(0); // its own files: fine
    const vmlinux = readFileSync(join(prefix, 'vmlinux.container')).length;
    expect(vmlinux).toBeGreaterThan(1 << 20);
    const name = execFileSync('readlink', [join(prefix, 'vmlinuz.container')], { encoding: 'utf8' }).trim();
    writeFileSync(join(prefix, name), 'somebody else');
    const r3 = osb(['install-kernel', '--workdir', KERNEL_WORKDIR, '--prefix', prefix]);
    expect(r3.code).toBe(1);
    expect(r3.stderr.split('\n')[0]).toBe(`osb: refusing to overwrite ${join(prefix, name)}: osb did not install it`);
    expect(readFileSync(join(prefix, name), 'utf8')).toBe('somebody else');
  });
});
