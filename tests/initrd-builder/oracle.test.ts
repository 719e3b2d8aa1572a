/**
 * GNU cpio as the independent reader: what it lists and extracts from osb's archive must be the
 * rootfs, entry by entry (content, mode, owner, symlink target, device numbers, hard links).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitrd } from '../../initrd-builder/index.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { SDE, cpioList, findList, makeCtx, removeTempDirs, snapshot, tempDir } from './helpers.js';

let dir: string;
let rootfs: string;
let archive: string;

beforeAll(async () => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
  // Owners other than root, a name with a space, a name that is not UTF-8, an empty file.
  mkdirSync(join(rootfs, 'home/user'), { recursive: true });
  writeFileSync(join(rootfs, 'home/user/notes with space.txt'), 'n\n');
  writeFileSync(join(rootfs, 'home/user/empty'), '');
  writeFileSync(Buffer.concat([Buffer.from(join(rootfs, 'home/user/latin1-')), Buffer.from([0xe9])]), 'e\n'); // not UTF-8
  if (isRoot) {
    execFileSync('chown', ['-R', '1000:1001', join(rootfs, 'home/user')]);
    chownSync(join(rootfs, 'home/user/empty'), 1002, 1003);
  }
  archive = (await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'initrd.cpio'), compression: 'none', agentInit: true })).path;
});
afterAll(removeTempDirs);

describe('GNU cpio reads what osb writes', () => {
  test('cpio -t lists exactly the rootfs entries, plus the added /init', () => {
    expect(cpioList(archive).sort()).toEqual([...findList(rootfs), 'init'].sort());
  });

  (isRoot ? test : test.skip)('cpio -idm (as root) reproduces every entry of the rootfs (mtimes clamped)', () => {
    const out = join(dir, 'extracted');
    mkdirSync(out);
    execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames', '-F', archive], { cwd: out });
    const want = snapshot(rootfs, { clampMtime: SDE });
    const got = snapshot(out, { skip: (n) => n === 'init' });
    // Directory modes and owners come back; the extraction dir itself was made by the test.
    got.set('.', want.get('.')!);
    expect([...got.entries()]).toEqual([...want.entries()]);
    expect(readlinkSync(join(out, 'init'))).toBe('/sbin/init');
    // The checks above cover these; spelled out because they are what breaks first.
    expect(got.get('var/lib/data/hello.txt')!.links).toEqual(['var/lib/data/hello-link.txt', 'var/lib/data/hello.txt']);
    expect(got.get('dev/console')!.rdev).toBe('5:1');
    expect(got.get('home/user/empty')).toMatchObject({ uid: 1002, gid: 1003 });
    expect(got.get('var/lib/data/setuid-tool')!.mode).toBe('104755');
  });

});
