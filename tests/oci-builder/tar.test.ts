/**
 * osb's tar writer against GNU tar as the oracle: what GNU tar extracts from it is the tree it
 * was written from, including what ustar cannot hold (pax path, linkpath, uid, binary xattrs).
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chownSync, lchownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { paxRecord } from '../../oci-builder/tar.js';
import { writeTar } from '../../oci-builder/tarfile.js';
import { readXattrs } from '../../oci-builder/xattrs.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { makeCtx, makeRichRootfs, snapshot, xattrDump } from './helpers.js';

afterAll(removeTempDirs);

const extract = (tar: string, into: string) => {
  mkdirSync(into);
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tar, '-C', into]);
  return into;
};

describe('tar writer', () => {
  test('pax records count their own length, also across a digit boundary', () => {
    expect(paxRecord('path', Buffer.from('abc')).toString()).toBe('12 path=abc\n');
    for (let n = 80; n < 120; n++) {
      const r = paxRecord('path', Buffer.alloc(n, 0x61));
      expect(Number(r.toString().split(' ')[0])).toBe(r.length);
    }
  });

  test('GNU tar extracts the tree it was written from: every kind, owners, modes, capabilities', async () => {
    const dir = tempDir();
    const src = makeRichRootfs(join(dir, 'src'));
    await writeTar(makeCtx(dir), src, join(dir, 'out.tar'));
    const back = extract(join(dir, 'out.tar'), join(dir, 'back'));
    expect(snapshot(back)).toEqual(snapshot(src));
    expect(xattrDump(back)).toBe(xattrDump(src));
  });

  test('xattrs of names getfattr escapes (newline, backslash, non-UTF-8) are found, binary values kept', async () => {
    const dir = tempDir();
    const src = join(dir, 'src');
    mkdirSync(src);
    const names = [Buffer.from('new\nline'), Buffer.from('back\\slash'), Buffer.from([0x6c, 0xe9, 0xff])];
    for (const n of names) {
      writeFileSync(Buffer.concat([Buffer.from(`${src}/`), n]), 'x');
      // Node passes arguments as UTF-8 strings; printf in sh makes the exact bytes.
      const octal = [...n].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
      execFileSync('sh', ['-c', `setfattr -n user.osb -v 0x0080ff00 "$(printf '${octal}')"`], { cwd: src });
    }
    const found = await readXattrs(makeCtx(dir), src);
    expect([...found.keys()].sort()).toEqual(names.map((n) => n.toString('latin1')).sort());
    for (const v of found.values()) expect(v.get('user.osb')).toEqual(Buffer.from([0x00, 0x80, 0xff, 0x00]));
  });

  test('what ustar cannot hold goes into pax records: a 300-byte path, a 200-byte link target, uid 3000000, a non-UTF-8 name', async () => {
    const dir = tempDir();
    const src = join(dir, 'src');
    const deep = join(src, 'a'.repeat(100), 'b'.repeat(100));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'c'.repeat(98)), 'deep\n');
    symlinkSync('t'.repeat(200), join(src, 'long-link'));
    lchownSync(join(src, 'long-link'), 3_000_000, 3_000_001);
    writeFileSync(Buffer.concat([Buffer.from(`${src}/latin1-`), Buffer.from([0xe9, 0xff])]), 'bytes\n');
    chownSync(join(src, 'a'.repeat(100)), 5, 6);
    await writeTar(makeCtx(dir), src, join(dir, 'out.tar'));
    const back = extract(join(dir, 'out.tar'), join(dir, 'back'));
    expect(snapshot(back)).toEqual(snapshot(src));
    expect(readFileSync(Buffer.concat([Buffer.from(`${back}/latin1-`), Buffer.from([0xe9, 0xff])]), 'utf8')).toBe('bytes\n');
    const list = execFileSync('tar', ['--numeric-owner', '-tvf', join(dir, 'out.tar')], { encoding: 'utf8' });
    expect(list).toMatch(/3000000\/3000001 .* long-link -> t{200}/);
  });
});
