/**
 * osb uki: systemd-stub with the kernel, initrd, command line and os-release as sections, and
 * the PCR 11 values systemd-stub will measure. systemd-measure (systemd 252) is the oracle for
 * the prediction; objdump for the sections. The kernel here is a stand-in of random bytes: what
 * is measured is the section's bytes, whatever they are (booting the UKI is a slow test's job).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { errorLine, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

const MEASURE = '/lib/systemd/systemd-measure';
let rootfs: string;
let kernel: string;
let dir: string;

beforeAll(() => {
  dir = tempDir('osb-uki-');
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
  symlinkSync('sbin/init', join(rootfs, 'init'));
  kernel = join(dir, 'vmlinuz-standin');
  writeFileSync(kernel, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)));
});
afterAll(() => removeTempDirs());

function build(wd: string, ...more: string[]): { code: number | null; stderr: string; stdout: string } {
  expect(osb(['initrd', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd]).code).toBe(0);
  return osb(['uki', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--kernel', kernel, ...more]);
}

type Predicted = { pcr11: Record<'sha256' | 'sha1', { stub: string; phases: { phase: string; value: string }[] }> };

/** What systemd-measure says for the same kernel, initrd, command line and os-release. */
function measured(wd: string, cmdline: string, bank: 'sha256' | 'sha1'): { stub: string; phases: { phase: string; hash: string }[] } {
  writeFileSync(join(wd, 'cmdline.txt'), cmdline);
  const files = [`--linux=${kernel}`, `--osrel=${join(rootfs, 'etc/os-release')}`, `--cmdline=${join(wd, 'cmdline.txt')}`, `--initrd=${join(wd, 'osb-initrd.img')}`, `--bank=${bank}`];
  const stub = /11:\w+=([0-9a-f]+)/.exec(execFileSync(MEASURE, ['calculate', ...files, '--phase='], { encoding: 'utf8' }))![1]!;
  const phases = (JSON.parse(execFileSync(MEASURE, ['calculate', ...files, '--json=short'], { encoding: 'utf8' })) as Record<string, { phase: string; hash: string }[]>)[bank]!;
  return { stub, phases };
}

describe('osb uki', () => {
  let wd: string;
  beforeAll(() => {
    wd = tempDir('osb-uki-wd-');
    const r = build(wd);
    if (r.code !== 0) throw new Error(r.stderr);
  });

  test('the predicted PCR 11 is what systemd-measure calculates, after the stub and after each boot phase, in both banks', () => {
    const p = JSON.parse(readFileSync(join(wd, 'osb.efi.pcr.json'), 'utf8')) as Predicted;
    for (const bank of ['sha256', 'sha1'] as const) {
      const m = measured(wd, 'console=ttyS0 panic=1', bank);
      expect(p.pcr11[bank].stub).toBe(m.stub);
      expect(p.pcr11[bank].phases.map((x) => [x.phase, x.value])).toEqual(m.phases.map((x) => [x.phase, x.hash]));
    }
  });

  test('objdump finds the four sections after the stub\'s, each holding its input', () => {
    const h = execFileSync('objdump', ['-h', join(wd, 'osb.efi')], { encoding: 'utf8' });
    for (const s of ['.sdmagic', '.osrel', '.cmdline', '.linux', '.initrd']) expect(h).toMatch(new RegExp(`\\s${s.replace('.', '\\.')}\\s`));
    execFileSync('objcopy', ['-O', 'binary', '--only-section=.cmdline', join(wd, 'osb.efi'), join(wd, 'cmdline.bin')]);
    expect(readFileSync(join(wd, 'cmdline.bin'), 'utf8')).toBe('console=ttyS0 panic=1');
  });

  test('the same inputs in another workdir give the same bytes; one byte more of command line, another PCR 11 that systemd-measure agrees with', () => {
    const other = tempDir('osb-uki-wd2-');
    expect(build(other).code).toBe(0);
    expect(readFileSync(join(other, 'osb.efi')).equals(readFileSync(join(wd, 'osb.efi')))).toBe(true);
    const third = tempDir('osb-uki-wd3-');
    expect(build(third, '--uki-cmdline', 'console=ttyS0 panic=2').code).toBe(0);
    const a = (JSON.parse(readFileSync(join(wd, 'osb.efi.pcr.json'), 'utf8')) as Predicted).pcr11.sha256.stub;
    const b = (JSON.parse(readFileSync(join(third, 'osb.efi.pcr.json'), 'utf8')) as Predicted).pcr11.sha256.stub;
    expect(b).not.toBe(a);
    expect(b).toBe(measured(third, 'console=ttyS0 panic=2', 'sha256').stub);
  });

  test('a stub that is a UKI already, or no PE at all: one line, no osb.efi', () => {
    const bad = tempDir('osb-uki-bad-');
    const uki = join(bad, 'already.efi');
    copyFileSync(join(wd, 'osb.efi'), uki);
    const a = build(bad, '--uki-stub', uki);
    expect(a.code).toBe(1);
    expect(errorLine(a.stderr)).toMatch(/already has UKI sections: it is a UKI, not a stub$/);
    writeFileSync(join(bad, 'text.efi'), 'not a PE file\n');
    const b = build(bad, '--uki-stub', join(bad, 'text.efi'));
    expect(b.code).toBe(1);
    expect(errorLine(b.stderr)).toMatch(/text\.efi is not a PE image osb can read \(no MZ header\)$/);
    expect(() => readFileSync(join(bad, 'osb.efi'))).toThrow();
  });
});
