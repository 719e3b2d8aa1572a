/** gzip member splitting and the tar dialect of apk v2 files, against GNU gzip and GNU tar. */
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitGzipMembers } from '../../../rootfs-builder/engines/apk/gzip.js';
import { readTar, writeTar } from '../../../rootfs-builder/engines/apk/tar.js';
import { abuildTar } from './helpers/abuild.js';

const gzipCli = (data: Buffer, args: string[] = ['-9', '-n']) => execFileSync('gzip', ['-c', ...args], { input: data });

describe('splitGzipMembers', () => {
  test('finds the exact byte range of each member, whatever its header holds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'osb-gz-'));
    try {
      writeFileSync(join(dir, 'named.txt'), 'x'.repeat(5000));
      const a = gzipCli(Buffer.from('first member'));
      const b = execFileSync('gzip', ['-c', '-9', join(dir, 'named.txt')]); // FNAME and MTIME set
      const c = gzipCli(Buffer.alloc(0)); // empty member
      const d = gzipCli(Buffer.from('y'.repeat(100000)), ['-1']);
      const members = splitGzipMembers(Buffer.concat([a, b, c, d]), 'test');
      expect(members.map((m) => m.raw)).toEqual([a, b, c, d]);
      expect(members.map((m) => m.start)).toEqual([0, a.length, a.length + b.length, a.length + b.length + c.length]);
      expect(members[0]!.data.toString()).toBe('first member');
      expect(members[1]!.data.toString()).toBe('x'.repeat(5000));
      expect(members[2]!.data.length).toBe(0);
      expect(members[3]!.data.length).toBe(100000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('truncated, corrupt and non-gzip input are refused, naming the file', () => {
    const a = gzipCli(Buffer.from('hello world, hello world'));
    expect(() => splitGzipMembers(a.subarray(0, a.length - 3), 'pkg.apk')).toThrow(/^pkg\.apk is truncated|^pkg\.apk has a corrupt gzip member/);
    const bad = Buffer.from(a);
    bad[bad.length - 6]! ^= 0xff; // CRC32
    expect(() => splitGzipMembers(bad, 'pkg.apk')).toThrow('pkg.apk has a corrupt gzip member at byte 0');
    expect(() => splitGzipMembers(Buffer.concat([a, Buffer.from('PK\x03\x04 trailing zip data')]), 'pkg.apk')).toThrow(`pkg.apk is not a gzip stream at byte ${a.length}`);
  });
});

describe('readTar', () => {
  test('reads GNU tar posix archives: pax records, long names, every entry type, owners', () => {
    const dir = mkdtempSync(join(tmpdir(), 'osb-tar-'));
    try {
      const long = `${'d'.repeat(60)}/${'f'.repeat(70)}`;
      mkdirSync(join(dir, 'd'.repeat(60)));
      writeFileSync(join(dir, long), 'long name\n');
      writeFileSync(join(dir, 'file'), 'content\n');
      chmodSync(join(dir, 'file'), 0o4755);
      linkSync(join(dir, 'file'), join(dir, 'hard'));
      symlinkSync('/bin/busybox', join(dir, 'link'));
      mkdirSync(join(dir, 'dir'));
      chmodSync(join(dir, 'dir'), 0o1777);
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      const tar = execFileSync('tar', ['--format=posix', '--pax-option=APK-TOOLS.checksum.SHA1:=0123', '--owner=nobody:65534', '--group=nogroup:65533', '--mtime=@1700000000', '--sort=name', '-C', dir, '-cf', '-', '.']);
      const byName = new Map(readTar(tar, 't').map((e) => [e.name, e]));
      expect(byName.get(`./${long}`)).toMatchObject({ type: 'file', data: Buffer.from('long name\n') });
      expect(byName.get('./file')).toMatchObject({ type: 'file', mode: 0o4755, uid: 65534, gid: 65533, uname: 'nobody', gname: 'nogroup', mtime: 1700000000 });
      expect(byName.get('./file')!.pax['APK-TOOLS.checksum.SHA1']).toBe('0123');
      expect(byName.get('./hard')).toMatchObject({ type: 'hardlink', linkname: './file' });
      expect(byName.get('./link')).toMatchObject({ type: 'symlink', linkname: '/bin/busybox' });
      expect(byName.get('./dir/')).toMatchObject({ type: 'dir', mode: 0o1777 });
      expect(byName.get('./fifo')).toMatchObject({ type: 'fifo' });
      // GNU format: long names through 'L' entries.
      const gnu = execFileSync('tar', ['--format=gnu', '-C', dir, '-cf', '-', long]);
      expect(readTar(gnu, 't').map((e) => e.name)).toEqual([long]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an archive cut by abuild-tar --cut (no end blocks) and abuild-tar --hash records', () => {
    const dir = mkdtempSync(join(tmpdir(), 'osb-tar-'));
    try {
      writeFileSync(join(dir, '.PKGINFO'), 'pkgname = x\n');
      symlinkSync('target', join(dir, 'sym'));
      const tar = execFileSync('tar', ['--format=posix', '-C', dir, '-cf', '-', '.PKGINFO', 'sym']);
      const cut = abuildTar(tar, { cut: true, hash: true });
      expect(cut.length % 512).toBe(0);
      const entries = readTar(cut, 't');
      expect(entries.map((e) => e.name)).toEqual(['.PKGINFO', 'sym']);
      const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
      expect(entries[0]!.pax['APK-TOOLS.checksum.SHA1']).toBe(sha1('pkgname = x\n'));
      expect(entries[1]!.pax['APK-TOOLS.checksum.SHA1']).toBe(sha1('target'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('damaged headers and truncated entries are refused', () => {
    const tar = writeTar([{ name: 'a', data: Buffer.from('hello') }]);
    const bad = Buffer.from(tar);
    bad[0] = 0x42;
    expect(() => readTar(bad, 'scripts.tar')).toThrow('scripts.tar: bad tar header checksum at byte 0');
    expect(() => readTar(tar.subarray(0, 600), 'scripts.tar')).toThrow('scripts.tar: truncated tar entry at byte 0');
  });
});

test('writeTar makes archives GNU tar lists and extracts as apk writes them (root, old GNU magic)', () => {
  const tar = writeTar([
    { name: 'busybox-1.36.1-r29.Q1abc=.post-install', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755, mtime: 1700000000 },
    { name: 'empty', data: Buffer.alloc(0) },
  ]);
  expect(execFileSync('tar', ['-tvf', '-', '--utc'], { input: tar }).toString()).toBe(
    '-rwxr-xr-x root/root        18 2023-11-14 22:13 busybox-1.36.1-r29.Q1abc=.post-install\n-rw-r--r-- root/root         0 1970-01-01 00:00 empty\n',
  );
  expect(execFileSync('tar', ['-xOf', '-', 'busybox-1.36.1-r29.Q1abc=.post-install'], { input: tar }).toString()).toBe('#!/bin/sh\necho hi\n');
  expect(readTar(tar, 't').map((e) => [e.name, e.mode, e.data.length])).toEqual([
    ['busybox-1.36.1-r29.Q1abc=.post-install', 0o755, 18],
    ['empty', 0o644, 0],
  ]);
});
