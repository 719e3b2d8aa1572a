/**
 * copyfiles into someone else's tree: its links are followed as the guest would follow them
 * (inside the tree), and a file or link at the destination is replaced, never written through.
 * What a user would notice otherwise: a host file overwritten by a build.
 */
import { afterAll, expect, test } from '@jest/globals';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyFiles } from '../../rootfs-builder/steps.js';
import { makeTestContext, removeTempDirs, tempDir } from '../helpers/build-context.js';

afterAll(removeTempDirs);

test('copyfiles through the tree\'s links lands inside the tree and replaces a link at the destination', async () => {
  const host = tempDir('osb-in-tree-host-');
  writeFileSync(join(host, 'passwd'), 'host\n');
  const tree = join(tempDir('osb-in-tree-'), 'rootfs');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  symlinkSync(host, join(tree, 'opt')); // a directory link to the host's path
  symlinkSync(join(host, 'passwd'), join(tree, 'etc/passwd')); // a file link to a host file
  symlinkSync(`../../../../../../..${host}`, join(tree, 'srv')); // climbing, relative
  const src = join(tempDir('osb-in-tree-src-'), 'conf');
  writeFileSync(src, 'from the config\n');
  const ctx = makeTestContext(tempDir('osb-in-tree-wd-'), 'rootfs');
  await copyFiles(ctx, tree, [
    { src, dest: '/etc/passwd', mode: 0o600 },
    { src, dest: '/opt/' },
    { src, dest: '/srv/deep/x' },
  ]);
  expect(readFileSync(join(host, 'passwd'), 'utf8')).toBe('host\n');
  expect(lstatSync(join(tree, 'etc/passwd')).isFile()).toBe(true);
  expect(statSync(join(tree, 'etc/passwd')).mode & 0o777).toBe(0o600);
  expect(readFileSync(join(tree, host, 'conf'), 'utf8')).toBe('from the config\n');
  expect(readFileSync(join(tree, host, 'deep/x'), 'utf8')).toBe('from the config\n');
  expect(readlinkSync(join(tree, 'opt'))).toBe(host);
  expect(() => statSync(join(host, 'conf'))).toThrow();
  expect(() => statSync(join(host, 'deep'))).toThrow();
});

test('dnf and zypper on a parent: a link on their host-side paths that is absolute or climbs out is refused in one line; links inside the tree are fine', async () => {
  const { refuseHostLinks } = await import('../../rootfs-builder/engines/rpm/common.js');
  const { leavesTreeOnHost } = await import('../../lib/in-tree.js');
  const tree = join(tempDir('osb-host-links-'), 'rootfs');
  mkdirSync(join(tree, 'usr/lib/sysimage/rpm'), { recursive: true });
  mkdirSync(join(tree, 'run'), { recursive: true });
  mkdirSync(join(tree, 'var/lib'), { recursive: true });
  symlinkSync('../run', join(tree, 'var/run')); // inside the tree
  symlinkSync('../run', join(tree, 'run-up')); // from / itself: the host takes .. to the tree's parent
  symlinkSync('../../usr/lib/sysimage/rpm', join(tree, 'var/lib/rpm')); // Fedora's, relative and inside
  await expect(refuseHostLinks(tree, 'dnf', ['/var/lib/rpm', '/var/cache/dnf', '/var/log'])).resolves.toBeUndefined();
  expect(await leavesTreeOnHost(tree, '/var/run/zypp.pid')).toBeUndefined();
  expect(await leavesTreeOnHost(tree, '/run-up/x')).toBe('/run-up (a link to ../run) leads above the tree');

  symlinkSync('/var/log', join(tree, 'var/log'));
  await expect(refuseHostLinks(tree, 'dnf', ['/var/cache/dnf', '/var/log'])).rejects.toThrow('refusing to run dnf on the parent: /var/log is a link to /var/log, which the host reads as its own, and dnf would follow it to write /var/log outside the tree');
  symlinkSync('../../../../..', join(tree, 'var/cache'));
  expect(await leavesTreeOnHost(tree, '/var/cache/dnf')).toBe('/var/cache (a link to ../../../../..) leads above the tree');
});

test('dnf and zypper on a parent: a file in their directories that links out (a log, the rpm database) is refused as well', async () => {
  const { refuseHostLinks } = await import('../../rootfs-builder/engines/rpm/common.js');
  const tree = join(tempDir('osb-host-file-links-'), 'rootfs');
  mkdirSync(join(tree, 'usr/lib/sysimage/rpm'), { recursive: true });
  mkdirSync(join(tree, 'var/log/journal'), { recursive: true });
  mkdirSync(join(tree, 'var/lib'), { recursive: true });
  symlinkSync('../../usr/lib/sysimage/rpm', join(tree, 'var/lib/rpm'));
  symlinkSync('../../usr/share/doc/README.logs', join(tree, 'var/log/README')); // relative, inside: fine
  await expect(refuseHostLinks(tree, 'dnf', ['/var/lib/rpm', '/var/log'])).resolves.toBeUndefined();
  symlinkSync('/var/lib/rpm/rpmdb.sqlite', join(tree, 'usr/lib/sysimage/rpm/rpmdb.sqlite'));
  await expect(refuseHostLinks(tree, 'dnf', ['/var/log', '/var/lib/rpm'])).rejects.toThrow('refusing to run dnf on the parent: /usr/lib/sysimage/rpm/rpmdb.sqlite is a link to /var/lib/rpm/rpmdb.sqlite, which the host reads as its own, and dnf would follow it to write /usr/lib/sysimage/rpm/rpmdb.sqlite outside the tree');
  symlinkSync('../../../../../../etc/shadow', join(tree, 'var/log/journal/dnf.log'));
  await expect(refuseHostLinks(tree, 'zypper', ['/var/log'])).rejects.toThrow('refusing to run zypper on the parent: /var/log/journal/dnf.log (a link to ../../../../../../etc/shadow) leads above the tree, and zypper would follow it to write /var/log/journal/dnf.log outside the tree');
});
