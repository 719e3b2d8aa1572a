/**
 * Measured boot end to end: osb's UKI (osb's kernel, a Debian agent-init initrd) booted by OVMF
 * with a software TPM (swtpm) under TCG. The oracles are the vTPM, whose PCR 11 the guest reads
 * from sysfs, systemd-measure (what systemd-stub 252 extends for these sections), and OVMF's
 * Secure Boot with Debian's snakeoil keys enrolled (ovmf's OVMF_VARS_4M.snakeoil.fd).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorLine, osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';
import { sfdiskJson } from '../image-builder/helpers.js';

jest.setTimeout(30 * 60_000);
const MEASURE = '/lib/systemd/systemd-measure';
const SNAKEOIL_VARS = '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd';
const CMDLINE = 'console=ttyS0 panic=1';
let wd: string;
let kernel: string;
const common = () => ['--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel', kernel, '--agent-init', '--boot-timeout', '240'];

beforeAll(() => {
  kernel = guestKernel();
  wd = mkdtempSync(join(tmpdir(), 'osb-uki-boot-'));
  const r = osb(['uki', ...common()]);
  if (r.code !== 0) throw new Error(`osb uki failed:\n${r.stdout}\n${r.stderr}`);
});
afterAll(() => rmSync(wd, { recursive: true, force: true }));

/** systemd-measure's PCR 11 after systemd-stub for osb's kernel and initrd with this command line. */
function measured(cmdline: string): string {
  const f = join(wd, 'measure-cmdline.txt');
  writeFileSync(f, cmdline);
  const osrel = join(wd, 'rootfs', 'usr/lib/os-release');
  const out = execFileSync(MEASURE, ['calculate', `--linux=${kernel}`, `--initrd=${join(wd, 'osb-initrd.img')}`, `--osrel=${osrel}`, `--cmdline=${f}`, '--bank=sha256', '--phase='], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return /11:sha256=([0-9a-f]{64})/.exec(out)![1]!;
}

/** swtpm processes still running (pgrep -r: not zombies, which only wait for their reaper). */
const swtpms = (): number => Number(spawnSync('pgrep', ['-xc', '-r', 'R,S,D,T', 'swtpm'], { encoding: 'utf8' }).stdout.trim() || 0);
const leftovers = (): string[] => readdirSync(join(wd, '.osb')).filter((n) => n.startsWith('uefi-boot-'));

describe('osb boot --uki (OVMF, swtpm, TCG)', () => {
  test("the guest's vTPM holds the PCR 11 osb predicted, which is systemd-measure's; swtpm is stopped and its files gone", () => {
    const before = swtpms();
    const r = osb(['boot', '--uki', ...common()]);
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
    expect(r.stdout).toMatch(/ready after \d+\.\d+ s \(TCG/);
    const seen = /PCR 11 read in the guest is the predicted one after systemd-stub: sha256:([0-9a-f]{64})/.exec(r.stdout)?.[1];
    const predicted = (JSON.parse(readFileSync(join(wd, 'osb.efi.pcr.json'), 'utf8')) as { pcr11: { sha256: { stub: string } } }).pcr11.sha256.stub;
    expect(seen).toBe(predicted);
    expect(seen).toBe(measured(CMDLINE));
    // The console itself carries the agent's line with the value the guest read.
    expect(readFileSync(join(wd, 'logs', 'boot.log'), 'utf8').toLowerCase()).toContain(`osb-agent: tpm pcr-sha256/11=${predicted}`);
    expect(swtpms()).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  test('one byte of the command line changed in osb.efi: the guest boots with the PCR 11 systemd-measure gives that line, and osb reports the mismatch', () => {
    const file = join(wd, 'osb.efi');
    const uki = readFileSync(file);
    const at = uki.indexOf(Buffer.from(CMDLINE));
    expect(at).toBeGreaterThan(0);
    expect(uki.indexOf(Buffer.from(CMDLINE), at + 1)).toBe(-1);
    const tampered = Buffer.from(uki);
    tampered[at + CMDLINE.length - 1] = '2'.charCodeAt(0);
    writeFileSync(file, tampered);
    let r;
    try {
      r = osb(['boot', '--uki', '--no-deps', '--workdir', wd, '--kernel', kernel, '--boot-timeout', '240']);
    } finally {
      writeFileSync(file, uki);
    }
    expect(r.code).toBe(1);
    const line = errorLine(r.stderr);
    expect(line).toMatch(/^osb: boot failed: the guest's PCR 11 is sha256:[0-9a-f]{64}, and osb predicted sha256:[0-9a-f]{64} .*: the UKI that booted is not the one osb measured$/);
    const [, got, want] = /is sha256:([0-9a-f]{64}), and osb predicted sha256:([0-9a-f]{64})/.exec(line ?? "")!;
    expect(want).toBe(measured(CMDLINE));
    expect(got).toBe(measured('console=ttyS0 panic=2'));
  });
});

describe('osb boot --uki --secure-boot-vars (OVMF Secure Boot, snakeoil keys enrolled)', () => {
  test('the firmware refuses the unsigned UKI: one line, quickly, no swtpm left', () => {
    const before = swtpms();
    const r = osb(['boot', '--uki', '--secure-boot-vars', SNAKEOIL_VARS, ...common()]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/^osb: boot failed: the firmware's Secure Boot refused the UKI \(failed to load .*: Access Denied\)$/);
    expect(swtpms()).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  test('signed with the enrolled key (osb uki --sb-key), it boots under enforced Secure Boot and PCR 11 is still the prediction', () => {
    const key = join(wd, 'snakeoil.key');
    execFileSync('openssl', ['pkey', '-in', '/usr/share/ovmf/PkKek-1-snakeoil.key', '-passin', 'pass:snakeoil', '-out', key]);
    const sb = ['--sb-key', key, '--sb-cert', '/usr/share/ovmf/PkKek-1-snakeoil.pem'];
    const r = osb(['boot', '--uki', '--secure-boot-vars', SNAKEOIL_VARS, ...sb, ...common()]);
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
    expect(r.stdout).toMatch(/PCR 11 read in the guest is the predicted one after systemd-stub/);
    expect(readFileSync(join(wd, 'logs', 'boot.log'), 'utf8')).toMatch(/secureboot: Secure boot enabled/);
  });
});

describe("osb boot --uki --secure-boot (OVMF Secure Boot, osb's own key enrolled)", () => {
  let own: string[];
  let snakeoil: string[];
  beforeAll(() => {
    const key = join(wd, 'own-db.key');
    const crt = join(wd, 'own-db.crt');
    execFileSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '3650', '-subj', '/CN=osb test db key/', '-sha256'], { stdio: 'ignore' });
    own = ['--sb-key', key, '--sb-cert', crt];
    const sk = join(wd, 'snakeoil.key');
    execFileSync('openssl', ['pkey', '-in', '/usr/share/ovmf/PkKek-1-snakeoil.key', '-passin', 'pass:snakeoil', '-out', sk]);
    snakeoil = ['--sb-key', sk, '--sb-cert', '/usr/share/ovmf/PkKek-1-snakeoil.pem'];
  });

  test('the UKI signed with a new key boots under Secure Boot enforced with that key alone as PK, KEK and db; PCR 11 is the prediction', () => {
    const r = osb(['boot', '--uki', '--secure-boot', ...own, ...common()]);
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
    expect(r.stdout).toMatch(/Secure Boot with \S+osb\.efi\.vars\.fd: CN=osb test db key enrolled as PK, KEK and db/);
    expect(r.stdout).toMatch(/PCR 11 read in the guest is the predicted one after systemd-stub/);
    expect(readFileSync(join(wd, 'logs', 'boot.log'), 'utf8')).toMatch(/secureboot: Secure boot enabled/);
  });

  test("that store refuses a UKI signed with another key (Debian's snakeoil), and the snakeoil store refuses osb's", () => {
    const store = join(wd, 'own-vars.fd');
    writeFileSync(store, readFileSync(join(wd, 'osb.efi.vars.fd')));
    const mine = osb(['boot', '--uki', '--secure-boot-vars', SNAKEOIL_VARS, ...own, ...common()]);
    expect(mine.code).toBe(1);
    expect(errorLine(mine.stderr)).toMatch(/^osb: boot failed: the firmware's Secure Boot refused the UKI \(failed to load .*: Access Denied\)$/);
    const theirs = osb(['boot', '--uki', '--secure-boot-vars', store, ...snakeoil, ...common()]);
    expect(theirs.code).toBe(1);
    expect(errorLine(theirs.stderr)).toMatch(/^osb: boot failed: the firmware's Secure Boot refused the UKI \(failed to load .*: Access Denied\)$/);
  });

  test('a dry run names the store it would write; without --sb-cert, or with --secure-boot-vars too, one line', () => {
    const again = osb(['boot', '--uki', '--secure-boot', '--dry-run', ...own, ...common()]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/would write \S+osb\.efi\.vars\.fd: \S+OVMF_VARS\S* with CN=osb test db key enrolled/);
    const other = mkdtempSync(join(tmpdir(), 'osb-uki-vars-'));
    try {
      const none = osb(['boot', '--uki', '--secure-boot', '--no-deps', '--workdir', other]);
      expect({ code: none.code, line: errorLine(none.stderr) }).toEqual({ code: 2, line: 'osb: --secure-boot enrolls the certificate the UKI is signed for, and no --sb-cert names one' });
      const both = osb(['boot', '--uki', '--secure-boot', '--secure-boot-vars', SNAKEOIL_VARS, '--no-deps', '--workdir', other, ...own]);
      expect(both.code).toBe(2);
      expect(errorLine(both.stderr)).toMatch(/^osb: --secure-boot enrolls your --sb-cert, --secure-boot-vars boots a store of your own/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('osb boot --uki bad input', () => {
  test('another profile, extra kernel arguments, or vars without --uki: one line each, nothing booted', () => {
    for (const [args, want] of [
      [['--vmm', 'firecracker'], /^osb: the firecracker profile starts a kernel directly, not a UKI through UEFI firmware$/],
      [['--', 'quiet'], /^osb: the UKI's command line is its own, measured into PCR 11: extra kernel arguments would not reach the kernel$/],
    ] as const) {
      const r = osb(['boot', '--uki', '--no-deps', '--workdir', wd, ...args]);
      expect({ code: r.code, line: errorLine(r.stderr) }).toEqual({ code: 2, line: expect.stringMatching(want) });
    }
    const r = osb(['boot', '--initrd', '--no-deps', '--workdir', wd, '--secure-boot-vars', SNAKEOIL_VARS]);
    expect({ code: r.code, line: errorLine(r.stderr) }).toEqual({ code: 2, line: 'osb: --secure-boot-vars is for osb boot --uki' });
  });

  test('a prediction file that is not JSON, or holds no sha256 value: one line, nothing booted; a dry run shows the firmware, the ESP and the TPM and makes none of them', () => {
    const bad = mkdtempSync(join(tmpdir(), 'osb-uki-bad-'));
    try {
      writeFileSync(join(bad, 'osb.efi'), readFileSync(join(wd, 'osb.efi')));
      for (const [text, want] of [
        ['{"pcr11":', /^osb: boot failed: .*osb\.efi\.pcr\.json is not JSON$/],
        ['{"pcr11":{"sha256":{"stub":"../../etc"}}}', /^osb: boot failed: .*osb\.efi\.pcr\.json holds no sha256 PCR 11 prediction$/],
      ] as const) {
        writeFileSync(join(bad, 'osb.efi.pcr.json'), text);
        const r = osb(['boot', '--uki', '--no-deps', '--workdir', bad, '--kernel', kernel]);
        expect({ code: r.code, line: errorLine(r.stderr) }).toEqual({ code: 1, line: expect.stringMatching(want) });
        expect(r.stdout).not.toMatch(/booting UKI/);
      }
      const fresh = join(bad, 'fresh');
      const d = osb(['boot', '--uki', '--dry-run', '--workdir', fresh, '--kernel', kernel]);
      expect(d.code).toBe(0);
      expect(d.stdout).toMatch(/-drive if=pflash,format=raw,unit=0,readonly=on,file=\S+OVMF_CODE\S*\.fd .*file=fat:\S+\/esp .*-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0/);
      expect(existsSync(fresh)).toBe(false);
      // The refused boots above staged nothing either: the prediction is read before the ESP is made.
      expect(readdirSync(join(bad, '.osb')).filter((n) => n.startsWith('uefi-boot-'))).toEqual([]);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});

describe('osb boot --uki --measured-rootfs (the image instead of an initrd)', () => {
  test("the UKI carries the measured image's dm-verity line; the guest mounts dm-0, and its PCR 11, which now covers the root hash, is the prediction and systemd-measure's; a flipped data block fails the boot", () => {
    const mwd = mkdtempSync(join(tmpdir(), 'osb-uki-measured-'));
    try {
      const r = osb(['boot', '--uki', '--measured-rootfs', '--partition-table', 'mbr', '--fs-type', 'ext4', '--workdir', mwd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel', kernel, '--agent-init', '--boot-timeout', '240']);
      if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
      const seen = /PCR 11 read in the guest is the predicted one after systemd-stub: sha256:([0-9a-f]{64})/.exec(r.stdout)?.[1];
      const rootHash = /^root_hash=([0-9a-f]{64})$/m.exec(readFileSync(join(mwd, 'root_hash.txt'), 'utf8'))![1]!;
      const doc = JSON.parse(readFileSync(join(mwd, 'osb.efi.pcr.json'), 'utf8')) as { cmdline: string; verity: { rootHash: string } };
      expect(doc.verity.rootHash).toBe(rootHash);
      expect(doc.cmdline).toMatch(new RegExp(`^console=ttyS0 panic=1 dm-mod\\.create="root,,,ro,0 \\d+ verity 1 /dev/vda1 /dev/vda2 .* sha256 ${rootHash} [0-9a-f]+" root=/dev/dm-0 rootfstype=ext4 ro$`));
      expect(execFileSync('objdump', ['-h', join(mwd, 'osb.efi')], { encoding: 'utf8' })).not.toMatch(/\s\.initrd\s/);
      expect(readFileSync(join(mwd, 'logs', 'boot.log'), 'utf8')).toMatch(/EXT4-fs \(dm-0\): mounted filesystem/);
      const f = join(mwd, 'measure-cmdline.txt');
      writeFileSync(f, doc.cmdline);
      const out = execFileSync(MEASURE, ['calculate', `--linux=${kernel}`, `--osrel=${join(mwd, 'rootfs', 'usr/lib/os-release')}`, `--cmdline=${f}`, '--bank=sha256', '--phase='], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(seen).toBe(/11:sha256=([0-9a-f]{64})/.exec(out)![1]);

      // One flipped byte in the agent's first data block: the kernel's read of /sbin/init fails
      // under dm-verity, and osb boot says so, as it does for an image booted without a UKI.
      const img = join(mwd, 'osb.img');
      const offset = sfdiskJson(img).partitions[0]!.start * 512;
      const block = Number(execFileSync('debugfs', ['-R', 'bmap /usr/sbin/init 0', `${img}?offset=${offset}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      expect(block).toBeGreaterThan(0);
      const bytes = readFileSync(img);
      const at = offset + block * 4096;
      expect(bytes.toString('utf8', at, at + 9)).toBe('#!/bin/sh');
      bytes[at + 2] = bytes[at + 2]! ^ 0x01;
      writeFileSync(img, bytes);
      const f2 = osb(['boot', '--uki', '--no-deps', '--measured-rootfs', '--workdir', mwd, '--kernel', kernel, '--boot-timeout', '240']);
      expect(f2.code).toBe(1);
      expect(errorLine(f2.stderr)).toMatch(new RegExp(`^osb: boot failed: dm-verity found data that does not match the root hash \\(.*device-mapper: verity: \\S+: data block ${block} is corrupted\\)$`));
    } finally {
      rmSync(mwd, { recursive: true, force: true });
    }
  });
});
