/**
 * Same rootfs + same SOURCE_DATE_EPOCH = same initrd bytes, whatever the host's inode numbers,
 * access times or the rootfs's location (DESIGN principle 8).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitrd, type Compression } from '../../initrd-builder/index.js';
import { sha256File } from '../../lib/hash.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { SDE, makeCtx, removeTempDirs, tempDir } from './helpers.js';

let dir: string;
let rootfs: string;
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

async function build(tree: string, name: string, c: Compression, sde = SDE): Promise<string> {
  const r = await buildInitrd(makeCtx(dir, { sourceDateEpoch: sde }), { rootfsDir: tree, output: join(dir, name), compression: c, agentInit: true });
  return sha256File(r.path);
}

describe('reproducible initrds', () => {
  test.each<[Compression]>([['none'], ['zstd'], ['gzip']])('%s: two builds of the same rootfs are identical', async (c) => {
    expect(await build(rootfs, `a.${c}`, c)).toBe(await build(rootfs, `b.${c}`, c));
  });

  test.each<['none' | 'zstd']>([['none'], ['zstd']])('%s: a cp -a copy elsewhere (new inodes, atimes, path) gives the same bytes', async (c) => {
    const copy = join(tempDir('osb-elsewhere-'), 'copied-rootfs');
    execFileSync('cp', ['-a', rootfs, copy]);
    execFileSync('cat', [join(copy, 'etc/hostname')]); // touch atimes in the copy
    expect(await build(copy, `copy.${c}`, c)).toBe(await build(rootfs, `orig.${c}`, c));
  });

  test('hard links stay grouped in the copy, with new host inode numbers', async () => {
    const copy = join(tempDir('osb-elsewhere-'), 'rootfs');
    execFileSync('cp', ['-a', rootfs, copy]);
    const ino = (p: string) => execFileSync('stat', ['-c', '%i', p], { encoding: 'utf8' });
    expect(ino(join(copy, 'var/lib/data/hello.txt'))).not.toBe(ino(join(rootfs, 'var/lib/data/hello.txt')));
    expect(await build(copy, 'links-copy', 'none')).toBe(await build(rootfs, 'links-orig', 'none'));
  });

  test('a newer mtime above SOURCE_DATE_EPOCH changes nothing; a change below it does', async () => {
    const base = await build(rootfs, 'm0', 'none');
    utimesSync(join(rootfs, 'etc/hostname'), SDE + 999, SDE + 999);
    expect(await build(rootfs, 'm1', 'none')).toBe(base);
    utimesSync(join(rootfs, 'etc/hostname'), SDE - 1, SDE - 1);
    expect(await build(rootfs, 'm2', 'none')).not.toBe(base);
    utimesSync(join(rootfs, 'etc/hostname'), SDE + 1, SDE + 1);
  });

  test('another SOURCE_DATE_EPOCH gives other bytes (the clamp is real)', async () => {
    expect(await build(rootfs, 'e1', 'none', SDE)).not.toBe(await build(rootfs, 'e2', 'none', SDE - 86400));
    expect(readFileSync(join(dir, 'e2')).includes(Buffer.from((SDE - 86400).toString(16).toUpperCase().padStart(8, '0')))).toBe(true);
  });
});
