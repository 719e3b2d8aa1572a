/**
 * A real Debian bookworm minbase rootfs (≈ 9000 entries, 166 MB): GNU cpio must list and
 * extract exactly that tree from osb's zstd initrd; a copy elsewhere must give the same bytes;
 * and a file far larger than memory should allow streams through without being held.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readlinkSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitrd } from '../../initrd-builder/index.js';
import { sha256File } from '../../lib/hash.js';
import { debianRootfs } from '../helpers/debian-rootfs.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { SDE, cpioList, findList, makeCtx, removeTempDirs, snapshot, tempDir } from './helpers.js';

let rootfs: string;
let dir: string;
let initrd: string;
beforeAll(async () => {
  rootfs = debianRootfs(); // the first run builds the cached tree with mmdebstrap (about 25 s)
  dir = tempDir();
  initrd = (await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'osb-initrd.img'), compression: 'zstd', agentInit: true })).path;
  execFileSync('sh', ['-c', 'zstd -dc "$1" > "$2"', 'sh', initrd, join(dir, 'initrd.cpio')]);
}, 300_000);
afterAll(removeTempDirs);

describe('initrd of a Debian minbase rootfs', () => {
  test('cpio -t lists exactly the rootfs, plus /init', () => {
    expect(cpioList(join(dir, 'initrd.cpio')).sort()).toEqual([...findList(rootfs), 'init'].sort());
  });

  test('cpio -idm reproduces every entry: content, mode, owner, times, targets, devices, hard links', () => {
    const out = join(dir, 'extracted');
    mkdirSync(out);
    execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames', '-F', join(dir, 'initrd.cpio')], { cwd: out });
    const want = snapshot(rootfs, { clampMtime: SDE });
    const got = snapshot(out, { skip: (n) => n === 'init' });
    got.set('.', want.get('.')!);
    expect(got.size).toBe(want.size);
    for (const [name, seen] of want) expect({ name, seen: got.get(name) }).toEqual({ name, seen });
    expect(readlinkSync(join(out, 'init'))).toBe('/sbin/init');
  }, 120_000);

  test('a cp -a copy of the rootfs elsewhere gives the same initrd bytes', async () => {
    const copy = join(tempDir('osb-elsewhere-'), 'rootfs');
    execFileSync('cp', ['-a', rootfs, copy]);
    const again = await buildInitrd(makeCtx(dir), { rootfsDir: copy, output: join(dir, 'copy.img'), compression: 'zstd', agentInit: true });
    expect(await sha256File(again.path)).toBe(await sha256File(initrd));
  }, 120_000);

  test('a 4 GiB - 1 file streams through in bounded memory', async () => {
    const big = tempDir();
    const tree = makeFixtureRootfs(join(big, 'rootfs'));
    const fd = openSync(join(tree, 'var/lib/data/huge.img'), 'w');
    ftruncateSync(fd, 2 ** 32 - 1); // sparse: no disk used, 4 GiB of zeros to read
    closeSync(fd);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const r = await buildInitrd(makeCtx(big), { rootfsDir: tree, output: join(big, 'huge.img'), compression: 'zstd', agentInit: true, level: 1 });
      expect(r.bytes).toBeLessThan(2 ** 24);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(256 * 1024 * 1024);
    const listing = execFileSync('sh', ['-c', 'zstd -dc "$1" | cpio -tv --quiet', 'sh', join(big, 'huge.img')], { encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(listing).toMatch(/ 4294967295 .* var\/lib\/data\/huge\.img$/m);
  }, 300_000);
});
