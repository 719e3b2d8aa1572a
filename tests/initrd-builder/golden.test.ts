/**
 * Golden bytes: a tiny tree whose archive was checked by hand against the kernel's
 * buffer-format.rst, field by field. Any change in the bytes osb writes shows up here.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { chmodSync, linkSync, lutimesSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitrd } from '../../initrd-builder/index.js';
import { encodeHeader, trailerHeader } from '../../initrd-builder/newc.js';
import { NewcReader } from '../../initrd-builder/verify.js';
import { makeCtx, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

/** 13 space-separated hex fields after the magic, then the literal name/data bytes (with padding). */
const entry = (fields: string, tail: string) => Buffer.concat([Buffer.from(`070701${fields.replace(/ /g, '')}`, 'latin1'), Buffer.from(tail, 'latin1')]);

//                 ino      mode     uid      gid      nlink    mtime    filesize devmaj   devmin   rdevmaj  rdevmin  namesize check
const GOLDEN = Buffer.concat([
  // "." : directory 0755, 2 links (no subdirectories), 110 + 2 name bytes = 112, no padding
  entry('00000001 000041ED 00000000 00000000 00000002 000003E8 00000000 00000000 00000000 00000000 00000000 00000002 00000000', '.\0'),
  // "a" : first name of a hard-link pair (ino 2, nlink 2): size 0, the data comes with the last name
  entry('00000002 000081ED 00000000 00000000 00000002 000003E8 00000000 00000000 00000000 00000000 00000000 00000002 00000000', 'a\0'),
  // "b" : last name of the pair, carries "hi\n" (3 bytes) + 1 byte of padding
  entry('00000002 000081ED 00000000 00000000 00000002 000003E8 00000003 00000000 00000000 00000000 00000000 00000002 00000000', 'b\0hi\n\0'),
  // "init" : symlink -> "a"; 110 + 5 = 115, 1 byte of name padding; 1 byte of target + 3 of padding
  entry('00000003 0000A1FF 00000000 00000000 00000001 000003E8 00000001 00000000 00000000 00000000 00000000 00000005 00000000', 'init\0\0a\0\0\0'),
  // trailer: nlink 1 like GNU cpio; 110 + 11 = 121, 3 bytes of padding
  entry('00000000 00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 0000000B 00000000', 'TRAILER!!!\0\0\0\0'),
]);

function tinyTree(): { dir: string; rootfs: string } {
  const dir = tempDir();
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  writeFileSync(join(rootfs, 'a'), 'hi\n');
  chmodSync(join(rootfs, 'a'), 0o755);
  linkSync(join(rootfs, 'a'), join(rootfs, 'b'));
  symlinkSync('a', join(rootfs, 'init'));
  lutimesSync(join(rootfs, 'init'), 1000, 1000);
  utimesSync(join(rootfs, 'a'), 1000, 1000);
  chmodSync(rootfs, 0o755);
  utimesSync(rootfs, 1000, 1000);
  return { dir, rootfs };
}

describe('golden bytes', () => {
  test('a tiny tree gives exactly the hand-checked archive', async () => {
    expect(GOLDEN.length).toBe(112 + 112 + 116 + 120 + 124);
    const { dir, rootfs } = tinyTree();
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'tiny.cpio'), compression: 'none', agentInit: false, owner: { uid: 0, gid: 0 } });
    const got = readFileSync(r.path);
    // Compare as text first: a mismatch then shows which field differs.
    expect(got.toString('latin1')).toBe(GOLDEN.toString('latin1'));
    expect(got.equals(GOLDEN)).toBe(true);
    expect(r).toMatchObject({ entries: 4, bytes: GOLDEN.length, compression: 'none' });
  });

  test('the owner override changes only the uid and gid fields', async () => {
    const { dir, rootfs } = tinyTree();
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'tiny.cpio'), compression: 'none', agentInit: false, owner: { uid: 1000, gid: 0x10000 } });
    const expected = Buffer.from(GOLDEN);
    for (const offset of [0, 112, 224, 340]) expected.write('000003E800010000', offset + 6 + 16, 'latin1'); // uid, gid of the 4 entries
    expect(readFileSync(r.path).toString('latin1')).toBe(expected.toString('latin1'));
  });

  test('header encoding: upper-case hex, name NUL-terminated and padded to 4', () => {
    const h = encodeHeader({ ino: 0xabc, mode: 0o100644, uid: 1, gid: 2, nlink: 1, mtime: 0xffffffff, filesize: 9, rdevMajor: 0, rdevMinor: 0, name: Buffer.from('xy') });
    expect(h.toString('latin1')).toBe('070701' + '00000ABC000081A4000000010000000200000001FFFFFFFF00000009' + '0'.repeat(32) + '0000000300000000' + 'xy\0' + '\0\0\0');
    expect(encodeHeader(trailerHeader()).length % 4).toBe(0);
  });

  test('the read-back parser counts the golden archive however it is split, and refuses damage', () => {
    for (const step of [1, 3, 7, 110, 111, GOLDEN.length]) {
      const reader = new NewcReader(true);
      for (let at = 0; at < GOLDEN.length; at += step) reader.push(GOLDEN.subarray(at, at + step));
      reader.end();
      expect([reader.entries, reader.names]).toEqual([4, ['.', 'a', 'b', 'init']]);
    }
    const truncated = new NewcReader();
    truncated.push(GOLDEN.subarray(0, GOLDEN.length - 124));
    expect(() => truncated.end()).toThrow(/archive ends before TRAILER!!!/);
    const damaged = Buffer.from(GOLDEN);
    damaged.write('Z', 112 + 6 + 8 * 6, 'latin1'); // the size field of "a"
    expect(() => new NewcReader().push(damaged)).toThrow(/does not read back: bad header field 6 at byte 112 /);
    expect(() => new NewcReader().push(Buffer.concat([GOLDEN, Buffer.from('x')]))).toThrow(/data after TRAILER!!!/);
  });

  test('a field that does not fit 8 hex digits is an error naming the entry', () => {
    expect(() => encodeHeader({ ino: 1, mode: 0o100644, uid: 2 ** 32, gid: 0, nlink: 1, mtime: 0, filesize: 0, rdevMajor: 0, rdevMinor: 0, name: Buffer.from('etc/big-uid') })).toThrow(/uid 4294967296 of etc\/big-uid does not fit/);
  });
});
