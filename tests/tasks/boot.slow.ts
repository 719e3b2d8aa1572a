/**
 * End to end: osb builds a Debian bookworm rootfs with the built-in agent, an initrd and disk
 * images, and boots each with osb's kernel under qemu until the agent's ready line appears.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';

jest.setTimeout(45 * 60_000);
let wd: string;
let kernel: string;
const common = () => ['--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel', kernel, '--boot-timeout', '180'];

beforeAll(() => {
  kernel = guestKernel();
  wd = mkdtempSync(join(tmpdir(), 'osb-boot-'));
});
afterAll(() => rmSync(wd, { recursive: true, force: true }));

function expectReady(r: { code: number | null; stdout: string; stderr: string }) {
  if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
}

describe('osb boot (agent-init, Debian bookworm, built-in agent)', () => {
  test('the initrd boots to the ready line, and the KVM fallback is announced', () => {
    const r = osb(['boot', '--initrd', '--agent-init', ...common()]);
    expectReady(r);
    expect(r.stderr).toMatch(/warning: boot: using TCG \(software emulation\): (\/dev\/kvm is present but a test guest printed nothing within 4 s|\/dev\/kvm is not usable)/);
  });

  test('the ext4 image boots over virtio-blk', () => {
    expectReady(osb(['boot', '--image', '--agent-init', '--no-dax', '--image-name', 'ext4.img', ...common()]));
  });

  test('the erofs image boots', () => {
    expectReady(osb(['boot', '--image', '--agent-init', '--no-dax', '--fs-type', 'erofs', '--image-name', 'erofs.img', ...common()]));
  });

  test('the --dax image boots as an nvdimm, as Kata runs it', () => {
    const r = osb(['boot', '--image', '--agent-init', '--dax', '--fs-type', 'ext4', '--image-name', 'dax.img', ...common(), '--verbose']);
    expectReady(r);
    expect(r.stdout).toMatch(/pmem0/);
  });

  test('an agent that fails makes osb boot fail, with the console tail shown', () => {
    const extra = join(wd, 'broken');
    mkdirSync(extra);
    writeFileSync(join(extra, 'init'), '#!/bin/sh\necho "broken agent: giving up"\nexit 1\n');
    chmodSync(join(extra, 'init'), 0o755);
    const r = osb(['boot', '--initrd', '--agent-init', '--initrd-extra', extra, '--initrd-name', 'broken.img', ...common(), '--boot-timeout', '60']);
    expect({ code: r.code, error: errorLine(r.stderr) }).toMatchObject({ code: 1 });
    expect(r.stderr).toMatch(/osb: boot failed: (the guest stopped before its ready line|no ready line within 60 s)/);
    expect(r.stderr).toContain('broken agent: giving up');
    expect(r.stderr).toMatch(/Kernel panic - not syncing: Attempted to kill init/);
  });
});

describe('osb boot (systemd variant)', () => {
  test('systemd starts the agent from its unit and the ready line appears', () => {
    const swd = join(wd, 'systemd');
    const r = osb(['boot', '--image', '--no-dax', '--workdir', swd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel', kernel, '--boot-timeout', '300']);
    expectReady(r);
  });
});

describe('osb boot bad input', () => {
  test('no kernel and --no-deps', () => {
    const r = osb(['boot', '--no-deps', '--workdir', join(wd, 'empty')]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/^osb: boot needs kernel, which is missing \(.*vmlinuz\.container/);
  });
  test('qemu missing: check-deps names the package', () => {
    const r = osb(['check-deps', 'boot'], { env: cleanEnv({ PATH: '/nonexistent' }) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^boot\s+qemu-system-x86_64\s+MISSING\s+missing: apt-get install qemu-system-x86/m);
  });
});
