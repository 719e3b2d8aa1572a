/**
 * A real Debian 11 (bullseye) minbase tree, for the scans: Debian 12's ssg-debian (0.1.65) has
 * data streams for Debian 10 and 11 only, and Debian 11's marks every rule "notapplicable" on a
 * bookworm tree. Built once with mmdebstrap from the tests' Debian mirror and kept in the test
 * cache beside debianRootfs()'s bookworm tree, the same way: a failed build leaves no entry.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_MIRROR, TEST_CACHE } from '../helpers/debian-rootfs.js';

const RECIPE = 'v1';

/** Path of a Debian bullseye minbase rootfs. */
export function bullseyeRootfs(): string {
  const dir = join(TEST_CACHE, `debian-bullseye-minbase-${RECIPE}`);
  if (existsSync(join(dir, '.complete'))) return join(dir, 'rootfs');
  mkdirSync(TEST_CACHE, { recursive: true });
  const stage = `${dir}.stage-${process.pid}`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    execFileSync('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', 'bullseye', join(stage, 'rootfs'), DEBIAN_MIRROR], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
    });
    writeFileSync(join(stage, '.complete'), '');
    rmSync(dir, { recursive: true, force: true });
    renameSync(stage, dir);
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    throw e;
  }
  return join(dir, 'rootfs');
}
