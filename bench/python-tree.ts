/**
 * A Debian bookworm minbase tree with python3 and systemd (what an Ansible layer's parent needs:
 * Ansible's modules run with the tree's python), built once with mmdebstrap and kept under
 * OSB_TEST_CACHE like debianRootfs(); a failed build leaves no cache entry.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_MIRROR, TEST_CACHE } from './debian-rootfs.js';

const RECIPE = 'v1';

export function pythonTree(): string {
  const dir = join(TEST_CACHE, `debian-bookworm-python3-${RECIPE}`);
  if (existsSync(join(dir, '.complete'))) return join(dir, 'rootfs');
  mkdirSync(TEST_CACHE, { recursive: true });
  const stage = `${dir}.stage-${process.pid}`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    execFileSync('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', '--include=python3,systemd,systemd-sysv', 'bookworm', join(stage, 'rootfs'), DEBIAN_MIRROR], {
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
