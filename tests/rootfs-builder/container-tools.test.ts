/**
 * --toolbox and --distrobox on a tree: the packages by the distro's names, and what toolbox's image
 * requirements ask beyond packages, written inside the tree and never through a link out of it
 * (a parent image is someone else's tree). visudo, sudo's own checker, reads the result.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alpine } from '../../distros/alpine.js';
import { azurelinux } from '../../distros/azurelinux.js';
import { debian } from '../../distros/debian.js';
import { fedora } from '../../distros/fedora.js';
import { rocky } from '../../distros/rocky.js';
import { ubuntu } from '../../distros/ubuntu.js';
import { configureToolbox, containerToolPackages } from '../../rootfs-builder/container-tools.js';
import { makeTestContext, removeTempDirs, tempDir } from '../helpers/build-context.js';

afterAll(removeTempDirs);

/** A tree as a distro's sudo and passwd leave it: the group file, sudoers with or without its include, nsswitch. */
function tree(o: { group?: string; include?: boolean; myhostname?: boolean } = {}): string {
  const t = tempDir('osb-ctools-');
  mkdirSync(join(t, 'etc'), { recursive: true });
  writeFileSync(join(t, 'etc/group'), `root:x:0:\n${o.group ?? 'sudo'}:x:27:\n`);
  writeFileSync(join(t, 'etc/sudoers'), `Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n${o.include === false ? '' : '@includedir /etc/sudoers.d\n'}`, { mode: 0o440 });
  writeFileSync(join(t, 'etc/nsswitch.conf'), 'passwd: files\nhosts:          files dns\n');
  if (o.myhostname !== false) {
    mkdirSync(join(t, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
    writeFileSync(join(t, 'usr/lib/x86_64-linux-gnu/libnss_myhostname.so.2'), '');
  }
  return t;
}
const ctx = (t: string) => makeTestContext(t, 'rootfs');

describe('the packages', () => {
  test('toolbox and distrobox by each distro\'s names, each once; Ubuntu and Rocky take their parents\'', () => {
    expect(containerToolPackages(debian, ['toolbox'])).toEqual(expect.arrayContaining(['libcap2-bin', 'sudo', 'passwd', 'mount', 'libnss-myhostname']));
    expect(containerToolPackages(fedora, ['toolbox'])).toEqual(['libcap', 'passwd', 'shadow-utils', 'sudo', 'util-linux']);
    expect(containerToolPackages(alpine, ['distrobox'])).toContain('pinentry');
    expect(containerToolPackages(ubuntu, ['toolbox'])).toEqual(containerToolPackages(debian, ['toolbox']));
    expect(containerToolPackages(rocky, ['distrobox'])).toEqual(containerToolPackages(fedora, ['distrobox']));
    const both = containerToolPackages(debian, ['toolbox', 'distrobox']);
    expect(new Set(both).size).toBe(both.length);
    expect(both).toEqual(expect.arrayContaining(['pinentry-curses', 'flatpak-xdg-utils']));
    expect(containerToolPackages(debian, [])).toEqual([]);
  });

  test('a distro osb knows no list for is refused with what to do', () => {
    expect(() => containerToolPackages(azurelinux, ['toolbox'])).toThrow(/^osb knows no --toolbox package list for azurelinux$/);
  });
});

describe('configureToolbox', () => {
  test('sudo for the group without a password (visudo accepts it), krb5.conf.d, myhostname after files', async () => {
    const t = tree();
    await configureToolbox(ctx(t), t, debian);
    const dropIn = join(t, 'etc/sudoers.d/toolbox');
    expect(readFileSync(dropIn, 'utf8')).toMatch(/^%sudo ALL=\(ALL:ALL\) NOPASSWD: ALL$/m);
    expect(statSync(dropIn).mode & 0o777).toBe(0o440);
    const visudo = spawnSync('visudo', ['-c', '-f', dropIn], { encoding: 'utf8' });
    if (visudo.error === undefined) expect(visudo.status).toBe(0);
    expect(statSync(join(t, 'etc/krb5.conf.d')).isDirectory()).toBe(true);
    expect(readFileSync(join(t, 'etc/nsswitch.conf'), 'utf8')).toMatch(/^hosts: +files myhostname dns$/m);
    // Run again (a rebuild on the same tree): nothing doubles.
    await configureToolbox(ctx(t), t, debian);
    expect(readFileSync(join(t, 'etc/nsswitch.conf'), 'utf8').match(/myhostname/g)).toHaveLength(1);
    expect(readFileSync(join(t, 'etc/sudoers'), 'utf8').match(/includedir/g)).toHaveLength(1);
  });

  test('the wheel group for Fedora; an include sudo ships commented out is added; no module, no nsswitch change', async () => {
    const t = tree({ group: 'wheel', include: false, myhostname: false });
    await configureToolbox(ctx(t), t, fedora);
    expect(readFileSync(join(t, 'etc/sudoers.d/toolbox'), 'utf8')).toMatch(/^%wheel ALL/m);
    expect(readFileSync(join(t, 'etc/sudoers'), 'utf8')).toMatch(/^@includedir \/etc\/sudoers\.d$/m);
    expect(readFileSync(join(t, 'etc/nsswitch.conf'), 'utf8')).toMatch(/^hosts: +files dns$/m);
  });

  test('a tree without the group is one line naming it', async () => {
    const t = tree({ group: 'staff' });
    await expect(configureToolbox(ctx(t), t, debian)).rejects.toThrow(/^the rootfs has no sudo group, which toolbox puts its user in$/);
  });

  test('a link in the tree never leads a write out of it', async () => {
    const outside = tempDir('osb-ctools-host-');
    writeFileSync(join(outside, 'precious'), 'host file\n');
    // A parent image whose drop-in is a link to an absolute path: refused, the host file untouched.
    const t = tree();
    mkdirSync(join(t, 'etc/sudoers.d'));
    symlinkSync(join(outside, 'precious'), join(t, 'etc/sudoers.d/toolbox'));
    await expect(configureToolbox(ctx(t), t, debian)).rejects.toThrow(/^\/etc\/sudoers\.d\/toolbox in the rootfs is not a regular file/);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('host file\n');
    // A directory link to an absolute path is followed inside the tree, as the guest would.
    const u = tree();
    symlinkSync(outside, join(u, 'etc/krb5.conf.d'));
    await configureToolbox(ctx(u), u, debian);
    expect(readlinkSync(join(u, 'etc/krb5.conf.d'))).toBe(outside);
    expect(existsSync(join(u, outside.slice(1)))).toBe(true);
    expect(lstatSync(join(outside, 'precious')).isFile()).toBe(true);
  });

  test('a dry run writes nothing', async () => {
    const t = tree();
    await configureToolbox(makeTestContext(t, 'rootfs', { dryRun: true }), t, debian);
    expect(existsSync(join(t, 'etc/sudoers.d'))).toBe(false);
  });
});
