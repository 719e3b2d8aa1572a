/**
 * The image sized from the last scan of the rootfs (WORKDIR/.osb/rootfs-scan.json), with the
 * tree walked beside mkfs: what a user sees is only that the tools start sooner. Every image
 * here is compared with one built from a fresh scan (no record), byte for byte, and checked by
 * e2fsck; a record that is stale, damaged or made up never changes the image.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type ImageOptions } from '../../image-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { recordingReporter } from '../helpers/build-context.js';
import { makeCtx, options, removeTempDirs, sh, sha256, tempDir } from './helpers.js';

let dir: string;
let rootfs: string;
let n = 0;
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

/** Build into a directory of its own; `record` is the scan record's path (none: scan first). */
async function build(record?: string, o: Partial<ImageOptions> = {}): Promise<{ path: string; lines: string[] }> {
  const out = join(dir, `out${n++}`);
  mkdirSync(out);
  const reporter = recordingReporter();
  const r = await buildImage(makeCtx(out, { reporter }), options(rootfs, join(out, 'osb.img'), { ...o, ...(record ? { scanRecord: record } : {}) }));
  // Nothing but the image is left beside it: no stage, no temporary of a discarded attempt.
  expect(readdirSync(out).filter((f) => f !== 'logs')).toEqual(['osb.img']);
  return { path: r.path, lines: reporter.lines };
}

const fsck = (image: string) => sh(['e2fsck', '-f', '-n', `${image}?offset=${1024 * 1024}`]);

test('the record is written by the first image and used by the next: the same bytes as a fresh scan', async () => {
  const record = join(dir, 'r1', 'rootfs-scan.json');
  const fresh = await build();
  const first = await build(record);
  expect(existsSync(record)).toBe(true);
  const second = await build(record);
  expect(second.lines.join('\n')).not.toMatch(/sizing the image again/);
  expect(sha256(first.path)).toBe(sha256(fresh.path));
  expect(sha256(second.path)).toBe(sha256(fresh.path));
}, 60_000);

test('a rootfs changed since the record is sized again, and the image is the one a fresh scan gives', async () => {
  const record = join(dir, 'r2', 'rootfs-scan.json');
  await build(record);
  // A file larger than the whole image the record sizes: mkfs cannot hold it in the guessed size.
  const big = join(rootfs, 'opt-big');
  writeFileSync(big, Buffer.alloc(24 * 1024 * 1024, 7));
  try {
    const again = await build(record);
    expect(again.lines).toContain('the rootfs changed since osb last scanned it: sizing the image again');
    const fresh = await build();
    expect(sha256(again.path)).toBe(sha256(fresh.path));
    fsck(again.path);
    // The record now describes the changed tree: the next build does not size twice.
    const third = await build(record);
    expect(third.lines.join('\n')).not.toMatch(/sizing the image again/);
    expect(sha256(third.path)).toBe(sha256(fresh.path));
  } finally {
    rmSync(big);
  }
}, 90_000);

test('a rootfs that shrank since the record gets the smaller image a fresh scan gives, not the larger one that would also hold it', async () => {
  const record = join(dir, 'r4', 'rootfs-scan.json');
  const big = join(rootfs, 'opt-gone');
  writeFileSync(big, Buffer.alloc(8 * 1024 * 1024, 9));
  const before = await build(record);
  rmSync(big);
  const again = await build(record);
  expect(again.lines).toContain('the rootfs changed since osb last scanned it: sizing the image again');
  const fresh = await build();
  expect(statSync(again.path).size).toBeLessThan(statSync(before.path).size);
  expect(sha256(again.path)).toBe(sha256(fresh.path));
}, 90_000);

test('a damaged, foreign or made-up record changes nothing', async () => {
  const fresh = sha256((await build()).path);
  const record = join(dir, 'r3', 'rootfs-scan.json');
  await build(record);
  const good = JSON.parse(readFileSync(record, 'utf8'));
  const cases: Array<[string, string]> = [
    ['not JSON', '{"v":1,'],
    ['another directory', JSON.stringify({ ...good, ino: '1' })],
    ['a wrong shape', JSON.stringify({ ...good, stats: { ...good.stats, fileSizes: 'many' } })],
    // Well formed but describing a much smaller tree: the image would not hold the rootfs.
    ['sizes too small', JSON.stringify({ ...good, stats: { ...good.stats, fileSizes: good.stats.fileSizes.map(() => 1), fileBytes: good.stats.fileSizes.length } })],
    // Well formed and enormous: a file larger than ext4 holds, so the record is not used at all.
    ['sizes too large', JSON.stringify({ ...good, stats: { ...good.stats, fileSizes: [2 ** 50], fileBytes: 2 ** 50, largestFile: { bytes: 2 ** 50, path: '/x' } } })],
  ];
  for (const [what, text] of cases) {
    writeFileSync(record, text);
    const b = await build(record);
    expect([what, sha256(b.path)]).toEqual([what, fresh]);
  }
}, 120_000);
