/**
 * What image-build's S3 layout publishes from the rootfs (the kernel and initramfs in /boot, the
 * release in os-release) is read as the guest sees the tree: a parent whose /boot, /lib/modules
 * or os-release links to the host's must not publish the host's files or name them.
 */
import { afterAll, expect, test } from '@jest/globals';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../../tasks/settings/table.js';
import { imageBuildArtifacts } from '../../tasks/targets/publish.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';

afterAll(removeTempDirs);

const KVER = '6.1.0-osbtest';
const settings = (rootfs: string) => ({ rootfsDir: rootfs, workdir: rootfs, s3Prefix: 'compute/', s3Artifacts: ['squashfs', 'kernel', 'initrd'] }) as unknown as Settings;

/** A /boot with a kernel and initramfs that say whose they are. */
function boot(dir: string, whose: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `initramfs-${KVER}.img`), `${whose} initramfs\n`);
  writeFileSync(join(dir, `vmlinuz-${KVER}`), `${whose} kernel\n`);
}

test("links to the host's /boot, /lib/modules and os-release: the tree's own files are published, under the tree's release", async () => {
  const host = tempDir('osb-s3-host-');
  boot(join(host, 'boot'), 'host');
  mkdirSync(join(host, 'modules', KVER), { recursive: true });
  writeFileSync(join(host, 'os-release'), 'ID=hostos\nVERSION_ID=99\n');
  const tree = join(tempDir('osb-s3-tree-'), 'rootfs');
  // Inside the tree, the links' targets are the tree's own.
  boot(join(tree, host, 'boot'), 'tree');
  mkdirSync(join(tree, host, 'modules', KVER), { recursive: true });
  writeFileSync(join(tree, host, 'os-release'), 'ID=rocky\nVERSION_ID=8.10\n');
  mkdirSync(join(tree, 'lib'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  symlinkSync(join(host, 'boot'), join(tree, 'boot'));
  symlinkSync(join(host, 'modules'), join(tree, 'lib/modules'));
  symlinkSync(join(host, 'os-release'), join(tree, 'etc/os-release'));
  const got = await imageBuildArtifacts(settings(tree), 'base', '/dev/null');
  expect(got.map((a) => [a.name, a.keyFor('1'), readFileSync(a.path, 'utf8')])).toEqual([
    ['squashfs', 'compute/rocky8.10-base-1', ''],
    [`initramfs-${KVER}.img`, `efi-images/compute/initramfs-${KVER}.img`, 'tree initramfs\n'],
    [`vmlinuz-${KVER}`, `efi-images/compute/vmlinuz-${KVER}`, 'tree kernel\n'],
  ]);
});

test('a /boot link that leads nowhere in the tree publishes nothing of the host: refused in one line', async () => {
  const host = tempDir('osb-s3-host-');
  boot(join(host, 'boot'), 'host');
  const tree = join(tempDir('osb-s3-tree-'), 'rootfs');
  mkdirSync(join(tree, 'lib/modules', KVER), { recursive: true });
  symlinkSync(join(host, 'boot'), join(tree, 'boot'));
  await expect(imageBuildArtifacts(settings(tree), 'base', '/dev/null')).rejects.toThrow(`no initramfs or initrd in the rootfs's /boot for any kernel in /lib/modules (${KVER})`);
});
