/** qcow2 output: a clean qcow2 whose guest-visible bytes equal the raw image built from the same inputs. */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type FsType } from '../../image-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { leftovers, makeCtx, options, removeTempDirs, sh, tempDir } from './helpers.js';

let dir: string;
let rootfs: string;
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

test.each(['ext4', 'erofs'] as FsType[])('%s: qemu-img check is clean and qemu-img compare finds the raw image', async (fsType) => {
  const out = join(dir, fsType);
  mkdirSync(out);
  const raw = await buildImage(makeCtx(out), options(rootfs, join(out, 'osb.img'), { fsType, dax: true }));
  const q = await buildImage(makeCtx(out), options(rootfs, join(out, 'osb.qcow2'), { fsType, dax: true, format: 'qcow2' }));
  const info = JSON.parse(sh(['qemu-img', 'info', '--output=json', q.path]));
  expect(info.format).toBe('qcow2');
  expect(info['virtual-size']).toBe(statSync(raw.path).size);
  expect(q.sizeBytes).toBe(raw.sizeBytes);
  expect(q.partitionOffset).toBe(raw.partitionOffset);
  sh(['qemu-img', 'check', '-f', 'qcow2', q.path]);
  expect(sh(['qemu-img', 'compare', '-f', 'raw', '-F', 'qcow2', raw.path, q.path])).toMatch(/identical/);
  expect(leftovers(out)).toEqual(['osb.img', 'osb.qcow2']);
}, 60_000);
