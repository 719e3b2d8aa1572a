/**
 * Write the fixture rootfs, read it back with the test's own newc parser, and compare every
 * entry with what lstat says about the source: the archive must carry the tree, normalised the
 * documented way (sorted, renumbered inodes, clamped mtimes, data on the last hard link).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { lstatSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitrd } from '../../initrd-builder/index.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { SDE, findList, makeCtx, parseNewc, removeTempDirs, tempDir, type ParsedEntry } from './helpers.js';

let rootfs: string;
let entries: ParsedEntry[];
let result: Awaited<ReturnType<typeof buildInitrd>>;

beforeAll(async () => {
  const dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
  writeFileSync(join(rootfs, 'etc/future'), 'from the future\n');
  utimesSync(join(rootfs, 'etc/future'), SDE + 1000, SDE + 1000);
  utimesSync(join(rootfs, 'etc/hostname'), SDE - 5000, SDE - 5000);
  writeFileSync(join(rootfs, 'var/lib/data/odd-size'), Buffer.alloc(5 * 1024 * 1024 + 3, 0xab)); // spans chunks, needs padding
  result = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'initrd.cpio'), compression: 'none', agentInit: true });
  const parsed = parseNewc(readFileSync(result.path));
  expect(parsed.end).toBe(readFileSync(result.path).length);
  entries = parsed.entries;
});
afterAll(removeTempDirs);

const byName = (n: string) => entries.find((e) => e.name === n)!;

describe('round trip through an independent newc parser', () => {
  test('the archive holds every rootfs entry plus /init, root first, then bytewise sorted', () => {
    const names = entries.map((e) => e.name);
    expect(names[0]).toBe('.');
    const rest = names.slice(1);
    expect(rest).toEqual([...rest].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'))));
    expect([...names].sort()).toEqual([...findList(rootfs), 'init'].sort());
    expect(result.entries).toBe(names.length);
    expect(result.bytes).toBe(readFileSync(result.path).length);
  });

  test('every entry keeps type, permissions, owner and data; dev is 0; check is 0', () => {
    for (const e of entries) {
      if (e.name === 'init') continue;
      const src = join(rootfs, e.name);
      const st = lstatSync(src);
      expect({ name: e.name, mode: e.mode, uid: e.uid, gid: e.gid }).toEqual({ name: e.name, mode: st.mode, uid: st.uid, gid: st.gid });
      expect([e.devmajor, e.devminor, e.check]).toEqual([0, 0, 0]);
      if (st.isSymbolicLink()) expect(e.data.toString('latin1')).toBe(readlinkSync(src));
      else if (st.isFile() && e.filesize > 0) expect(e.data.equals(readFileSync(src))).toBe(true);
      else expect(e.filesize).toBe(0);
    }
  });

  test('mtimes are min(mtime, SOURCE_DATE_EPOCH)', () => {
    expect(byName('etc/future').mtime).toBe(SDE);
    expect(byName('etc/hostname').mtime).toBe(SDE - 5000);
    for (const e of entries) expect(e.mtime).toBeLessThanOrEqual(SDE);
  });

  test('hard links share one renumbered inode; only the last carries the data', () => {
    const first = byName('var/lib/data/hello-link.txt');
    const last = byName('var/lib/data/hello.txt');
    expect(first.ino).toBe(last.ino);
    expect([first.nlink, last.nlink]).toEqual([2, 2]);
    expect(first.filesize).toBe(0);
    expect(last.data.toString()).toBe('hello from the fixture\n');
    const others = entries.filter((e) => e !== first && e !== last).map((e) => e.ino);
    expect(new Set(others).size).toBe(others.length);
    expect(others).not.toContain(first.ino);
    expect(Math.max(...entries.map((e) => e.ino))).toBe(entries.length - 1); // a counter, not host inode numbers
  });

  test('directory link counts are counted in the archive: 2 + subdirectories', () => {
    expect(byName('var/lib').nlink).toBe(3);
    expect(byName('var/lib/data').nlink).toBe(2);
    expect(byName('.').nlink).toBe(2 + entries.filter((e) => !e.name.includes('/') && e.name !== '.' && (e.mode & 0o170000) === 0o040000).length);
  });

  test('/init is added as a symlink to /sbin/init, owned by root', () => {
    const init = byName('init');
    expect(init.mode).toBe(0o120777);
    expect(init.data.toString()).toBe('/sbin/init');
    expect([init.uid, init.gid, init.mtime]).toEqual([0, 0, SDE]);
  });

  (isRoot ? test : test.skip)('device nodes carry rdev major/minor; fifos are kept', () => {
    expect([byName('dev/console').mode, byName('dev/console').rdevmajor, byName('dev/console').rdevminor]).toEqual([0o20600, 5, 1]);
    expect([byName('dev/null').rdevmajor, byName('dev/null').rdevminor]).toEqual([1, 3]);
    expect(byName('var/lib/data/fifo').mode & 0o170000).toBe(0o010000);
    expect(byName('var/lib/data/setuid-tool').mode).toBe(0o104755);
  });
});
