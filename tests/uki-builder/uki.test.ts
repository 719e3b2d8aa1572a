/**
 * osb uki: systemd-stub with the kernel, initrd, command line and os-release as sections, and
 * the PCR 11 values systemd-stub will measure. systemd-measure (systemd 252) is the oracle for
 * the prediction; objdump for the sections. The kernel here is a stand-in of random bytes: what
 * is measured is the section's bytes, whatever they are (booting the UKI is a slow test's job).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
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
  const stub = /11:\w+=([0-9a-f]+)/.exec(execFileSync(MEASURE, ['calculate', ...files, '--phase='], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]!;
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

  test('the reference values as an in-toto statement about osb.efi; --sign-key signs it and osb verify accepts it', () => {
    const st = JSON.parse(readFileSync(join(wd, 'osb.efi.intoto.json'), 'utf8')) as { _type: string; subject: { name: string; digest: { sha256: string } }[]; predicate: Predicted };
    expect(st._type).toBe('https://in-toto.io/Statement/v1');
    expect(st.subject).toEqual([{ name: 'osb.efi', digest: { sha256: execFileSync('sha256sum', [join(wd, 'osb.efi')], { encoding: 'utf8' }).split(' ')[0] } }]);
    expect(st.predicate.pcr11.sha256.stub).toBe(measured(wd, 'console=ttyS0 panic=1', 'sha256').stub);
    const keys = tempDir('osb-uki-keys-');
    expect(osb(['keygen'], { cwd: keys, env: cleanEnv({ OSB_SIGN_PASSWORD: '' }) }).code).toBe(0);
    const r = osb(['uki', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--kernel', kernel, '--sign-key', join(keys, 'cosign.key')], { env: cleanEnv({ OSB_SIGN_PASSWORD: '' }) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const v = osb(['verify', join(wd, 'osb.efi'), '--key', join(keys, 'cosign.pub')]);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/^verified .*osb\.efi \(sha256:[0-9a-f]{64}\) with .*: https:\/\/osb\.invalid\/attestation\/uki-reference-values\/v1\n$/);
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

  test('--sb-key/--sb-cert: sbverify accepts the signature with that certificate and refuses another; the Authenticode digest osb predicted is the one osslsigncode calculates and the signature carries', () => {
    const keys = tempDir('osb-uki-sb-');
    for (const n of ['db', 'other']) execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/CN=osb test ${n}`, '-keyout', join(keys, `${n}.key`), '-out', join(keys, `${n}.crt`)], { stdio: 'ignore' });
    const sw = tempDir('osb-uki-signed-');
    const r = build(sw, '--sb-key', join(keys, 'db.key'), '--sb-cert', join(keys, 'db.crt'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const efi = join(sw, 'osb.efi');
    expect(execFileSync('sbverify', ['--cert', join(keys, 'db.crt'), efi], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/Signature verification OK/);
    const refused = spawnSync('sbverify', ['--cert', join(keys, 'other.crt'), efi], { encoding: 'utf8' });
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/Signature verification failed/);
    const v = execFileSync('osslsigncode', ['verify', '-CAfile', join(keys, 'db.crt'), '-in', efi], { encoding: 'utf8' });
    const current = /Current message digest\s*:\s*([0-9A-F]+)/.exec(v)![1]!.toLowerCase();
    const calculated = /Calculated message digest\s*:\s*([0-9A-F]+)/.exec(v)![1]!.toLowerCase();
    const doc = JSON.parse(readFileSync(join(sw, 'osb.efi.pcr.json'), 'utf8')) as { authenticode: { sha256: string }; uki: { signed: boolean; unsigned: { sha256: string } } };
    expect(doc.uki.signed).toBe(true);
    expect(doc.authenticode.sha256).toBe(calculated);
    expect(doc.authenticode.sha256).toBe(current);
    // The unsigned UKI of the same inputs has that digest too, and its bytes are the unsigned ones recorded.
    const unsigned = JSON.parse(readFileSync(join(wd, 'osb.efi.pcr.json'), 'utf8')) as { authenticode: { sha256: string }; uki: { sha256: string } };
    expect(unsigned.authenticode.sha256).toBe(doc.authenticode.sha256);
    expect(doc.uki.unsigned.sha256).toBe(unsigned.uki.sha256);
    const half = build(tempDir('osb-uki-half-'), '--sb-key', join(keys, 'db.key'));
    expect(half.code).toBe(2);
    expect(errorLine(half.stderr)).toBe('osb: Secure Boot signing needs both --sb-key and --sb-cert');
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
