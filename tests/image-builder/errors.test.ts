/**
 * Bad input: each case fails with an error a user can act on and leaves no file at the output
 * path, no temporary beside it and no loop device attached. Dry-run writes nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, type ImageOptions } from '../../image-builder/index.js';
import { assertTreeFits } from '../../image-builder/limits.js';
import { scanTree } from '../../image-builder/scan.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { leftovers, loopDevices, makeCtx, options, recordingReporter, removeTempDirs, tempDir } from './helpers.js';

let dir: string;
let rootfs: string;
let loopsBefore: string[];
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
  loopsBefore = loopDevices();
});
afterAll(removeTempDirs);
const realPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = realPath;
  expect(loopDevices()).toEqual(loopsBefore);
});

let n = 0;
/** Build into a fresh directory; returns the error (or undefined) and what the directory holds after. */
async function attempt(o: Partial<ImageOptions>, tree = rootfs): Promise<{ err?: Error & { hint?: string }; left: string[]; output: string }> {
  const out = join(dir, `out${n++}`);
  mkdirSync(out);
  const output = join(out, 'osb.img');
  const err = await buildImage(makeCtx(out), options(tree, output, o)).then(() => undefined, (e: Error) => e);
  return { err, left: leftovers(out), output };
}

describe('image size', () => {
  test('too small: the message gives the size needed, and that size works', async () => {
    const small = await attempt({ imageSizeMiB: 4 });
    expect(small.err?.name).toBe('OsbError');
    const needed = Number(/needs at least (\d+) MiB/.exec(small.err!.message)?.[1]);
    expect(needed).toBeGreaterThan(4);
    expect(small.left).toEqual([]);
    expect((await attempt({ imageSizeMiB: needed - 1 })).err?.message).toContain(`needs at least ${needed} MiB`);
    const ok = await attempt({ imageSizeMiB: needed });
    expect(ok.err).toBeUndefined();
    const bigger = await attempt({ imageSizeMiB: needed + 20, rootFreeSpaceMiB: 0 });
    expect(bigger.err).toBeUndefined();
  }, 60_000);

  test('with DAX an odd size is refused (the PFN alignment is 2 MiB)', async () => {
    const r = await attempt({ imageSizeMiB: 41, dax: true });
    expect(r.err?.message).toMatch(/multiple of 2 MiB/);
    expect(r.left).toEqual([]);
  });
});

test('unknown filesystem type: a usage error listing the valid ones', async () => {
  const r = await attempt({ fsType: 'btrfs' as never });
  expect(r.err?.name).toBe('UsageError');
  expect(r.err?.message).toMatch(/btrfs.*ext4, xfs, erofs/);
  expect(r.left).toEqual([]);
});

test('output directory that cannot exist (below a regular file)', async () => {
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  const err = await buildImage(makeCtx(dir), options(rootfs, join(file, 'osb.img'))).then(() => undefined, (e: Error) => e);
  expect(err?.name).toBe('OsbError');
  expect(err?.message).toContain(file);
  expect(existsSync(join(file, 'osb.img'))).toBe(false);
});

describe('a path the filesystem cannot hold', () => {
  let tree: string;
  beforeAll(() => {
    tree = makeFixtureRootfs(join(dir, 'rootfs-long-link'));
    symlinkSync('x/'.repeat(750), join(tree, 'var/lib/data/long-link')); // 1500 bytes: fine on the host
  });

  test('ext4 with 1 KiB blocks: the symlink target exceeds a block', async () => {
    const r = await attempt({ blockSize: 1024 }, tree);
    expect(r.err?.message).toContain('/var/lib/data/long-link');
    expect(r.err?.message).toMatch(/ext4 cannot hold/);
    expect(r.left).toEqual([]);
    expect(existsSync(r.output)).toBe(false);
  });

  (isRoot ? test : test.skip)('xfs: the symlink target exceeds XFS_SYMLINK_MAXLEN', async () => {
    const r = await attempt({ fsType: 'xfs' }, tree);
    expect(r.err?.message).toContain('/var/lib/data/long-link');
    expect(r.left).toEqual([]);
  });

  test('erofs and ext4 with 4 KiB blocks hold it', async () => {
    expect((await attempt({ fsType: 'erofs' }, tree)).err).toBeUndefined();
    expect((await attempt({}, tree)).err).toBeUndefined();
  }, 60_000);

  test('a name over 255 bytes is named in the error (checked on the scanned tree: Linux hosts cannot store one)', () => {
    const stats = { ...scanTree(rootfs), longestName: { bytes: 300, path: '/etc/' + 'n'.repeat(300) } };
    for (const fs of ['ext4', 'xfs', 'erofs'] as const) expect(() => assertTreeFits(stats, fs, 4096)).toThrow(/cannot hold \/etc\/nnnn.*name is 300 bytes, the limit is 255/);
  });
});

test('an unreadable rootfs is reported as such', async () => {
  const r = await attempt({}, join(dir, 'no-such-rootfs'));
  expect(r.err?.message).toMatch(/rootfs .*no-such-rootfs cannot be read/);
  expect(r.left).toEqual([]);
});

test('a filesystem the checker rejects is an error and leaves nothing', async () => {
  const bin = join(dir, 'fake-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'e2fsck'), '#!/bin/sh\necho "inode 12 has a bad extent" >&2\nexit 4\n');
  chmodSync(join(bin, 'e2fsck'), 0o755);
  process.env.PATH = `${bin}:${realPath}`;
  const r = await attempt({});
  expect(r.err?.message).toMatch(/e2fsck found problems.*bad extent/);
  expect(r.left).toEqual([]);
});

const MKFS: Record<string, RegExp> = { ext4: /would run: mkfs\.ext4 .*-d /, erofs: /would run: mkfs\.erofs /, xfs: /would run: cp -a / };
test.each(isRoot ? ['ext4', 'erofs', 'xfs'] : ['ext4', 'erofs'])('dry-run (%s): prints the commands and writes nothing', async (fsType) => {
  const out = join(dir, `dry-${fsType}`);
  mkdirSync(out);
  const rep = recordingReporter();
  const tmpBefore = readdirSync(tmpdir());
  const r = await buildImage(makeCtx(out, { dryRun: true, reporter: rep }), options(rootfs, join(out, 'osb.img'), { fsType: fsType as ImageOptions['fsType'], dax: true, format: 'qcow2' }));
  expect(leftovers(out)).toEqual([]); // the runner may have started its log; nothing else
  expect(readdirSync(tmpdir()).filter((n) => !tmpBefore.includes(n) && n.startsWith('osb-xfs-'))).toEqual([]);
  const cmds = rep.lines.filter((l) => l.startsWith('would run: '));
  expect(cmds.some((l) => /would run: sfdisk /.test(l))).toBe(true);
  expect(cmds.some((l) => MKFS[fsType]!.test(l))).toBe(true);
  expect(cmds.some((l) => /would run: qemu-img convert /.test(l))).toBe(true);
  expect(r.sizeBytes).toBeGreaterThan(0);
});
