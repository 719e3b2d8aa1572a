/**
 * ext4 and erofs images build without root: no loop device, no mount, no privileged call. The
 * build runs as the unprivileged user "nobody" (uid 65534) over a tree that user owns.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { compiledImageBuilder, ext4Stat, KILL_DRIVER, removeTempDirs, sh, sfdiskJson, tempDir } from './helpers.js';

const NOBODY = 65534;
let compiled: string;
let dir: string;
let rootfs: string;
beforeAll(() => {
  compiled = compiledImageBuilder();
  dir = tempDir();
  chownSync(dir, NOBODY, NOBODY);
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'), { specials: false });
  sh(['chown', '-R', `${NOBODY}:${NOBODY}`, rootfs]);
  mkdirSync(join(dir, 'out'));
  chownSync(join(dir, 'out'), NOBODY, NOBODY);
}, 120_000);
afterAll(removeTempDirs);

(isRoot ? test.each(['ext4', 'erofs']) : test.skip.each(['ext4', 'erofs']))('%s as uid 65534', (fsType) => {
  const output = join(dir, 'out', `${fsType}.img`);
  execFileSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, KILL_DRIVER, compiled, rootfs, output, fsType], { stdio: 'pipe', env: { PATH: process.env.PATH, HOME: '/tmp' } });
  expect(statSync(output).uid).toBe(NOBODY);
  expect(sfdiskJson(output).partitions).toHaveLength(1);
  if (fsType === 'ext4') expect(ext4Stat(output, 3 * 1024 * 1024, '/sbin/init')).toMatchObject({ type: 'regular', mode: 0o755 });
}, 60_000);
