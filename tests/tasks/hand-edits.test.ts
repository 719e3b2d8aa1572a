/**
 * A rootfs edited by hand after the image and initrd were made of it: the next `osb image` and
 * `osb initrd` build them again (the tree is not one of their inputs, so the inputs hash alone
 * called them up to date), and the artefacts hold the change, as debugfs and GNU cpio read them.
 * An untouched tree stays up to date, however often osb looks.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

let rootfs: string;
let wd: string;
const args = () => ['--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--fs-type', 'ext4', '--compression', 'zstd'];
const run = (target: string) => {
  const r = osb([target, ...args()]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
};
const upToDate = (out: string) => /SKIPPED: up to date|up to date/.test(out) && !/✔/.test(out);

/** What debugfs says to `request` about the image's ext4 partition (where sfdisk says it starts). */
function debugfs(request: string): string {
  const img = join(wd, 'osb.img');
  const start = Number(/start=\s*(\d+)/.exec(execFileSync('sfdisk', ['-d', img], { encoding: 'utf8' }))![1]) * 512;
  return execFileSync('debugfs', ['-R', request, `${img}?offset=${start}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}
const inInitrd = (): string[] => execFileSync('sh', ['-c', `zstd -dc '${join(wd, 'osb-initrd.img')}' | cpio -it --quiet`], { encoding: 'utf8' }).split('\n');

beforeAll(() => {
  rootfs = makeFixtureRootfs(join(tempDir('osb-hand-'), 'rootfs'));
  symlinkSync('sbin/init', join(rootfs, 'init')); // an initrd's init
  wd = tempDir('osb-hand-wd-');
  run('image');
  run('initrd');
}, 120_000);
afterAll(() => removeTempDirs());

test('an untouched tree: image and initrd stay up to date', () => {
  expect(upToDate(run('image'))).toBe(true);
  expect(upToDate(run('initrd'))).toBe(true);
});

test('a file added by hand: explain says why, both are built again and hold it, then are up to date', () => {
  writeFileSync(join(rootfs, 'etc/added-by-hand'), 'edited after the build\n');
  const why = osb(['explain', 'image', ...args()]);
  expect(why.stdout).toMatch(/changed since it was built/);
  expect(upToDate(run('image'))).toBe(false);
  expect(debugfs('cat /etc/added-by-hand')).toBe('edited after the build\n');
  expect(upToDate(run('initrd'))).toBe(false);
  expect(inInitrd()).toContain('etc/added-by-hand');
  expect(upToDate(run('image'))).toBe(true);
  expect(upToDate(run('initrd'))).toBe(true);
}, 120_000);

test('a mode changed by hand (no byte written) builds the image again', () => {
  chmodSync(join(rootfs, 'etc/hostname'), 0o600);
  expect(upToDate(run('image'))).toBe(false);
  expect(debugfs('stat /etc/hostname')).toMatch(/Mode:\s+0600/);
}, 120_000);
