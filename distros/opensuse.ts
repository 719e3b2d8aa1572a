/**
 * openSUSE (Leap and Tumbleweed): installed with zypper --root. openSUSE's rpm reads an ndb
 * database, so the engine hands the sqlite one Debian's rpm wrote to the target's own rpm.
 */
import { slash } from './fedora.js';
import type { Arch, Distro } from './types.js';

export const opensuse: Distro = {
  name: 'opensuse',
  describe: 'openSUSE Leap / Tumbleweed (zypper --root)',
  defaultRelease: '16.0',
  // Leap 15.6 reached its end of life in April 2026.
  releases: ['16.0', 'tumbleweed'],
  arches: { x86_64: 'x86_64', aarch64: 'aarch64' } as Partial<Record<Arch, string>>,
  engine: 'zypper',
  defaultMirror: () => 'https://download.opensuse.org',
  components: ['repo-oss'],
  basePackages: ['filesystem', 'bash', 'coreutils', 'util-linux'],
  systemdPackages: ['systemd', 'udev'],
  containerTools: {
    // capsh is in libcap-progs; passwd, useradd and usermod in shadow; the wheel group is a package of its own.
    toolbox: ['libcap-progs', 'shadow', 'sudo', 'system-group-wheel', 'util-linux'],
    // distrobox-init's zypper list, without libvte-2* (a pattern), systemd and the graphics drivers.
    distrobox: ['bash', 'bc', 'curl', 'diffutils', 'findutils', 'gnupg', 'less', 'lsof', 'ncurses', 'pinentry', 'procps', 'shadow', 'sudo', 'time', 'wget', 'util-linux'],
    sudoGroup: 'wheel',
  },
  rpm: {
    repositories: (mirror, release, arch) => {
      const m = slash(mirror ?? 'https://download.opensuse.org');
      if (release === 'tumbleweed') return [{ id: 'repo-oss', baseurl: arch === 'x86_64' ? `${m}tumbleweed/repo/oss/` : `${m}ports/${arch}/tumbleweed/repo/oss/` }];
      return [{ id: 'repo-oss', baseurl: `${m}distribution/leap/${release}/repo/oss/${arch}/` }];
    },
    // Leap 16 carries packages built by SUSE (SLE key) and by openSUSE.
    keys: (release) => (release === 'tumbleweed' ? ['RPM-GPG-KEY-openSUSE-2022'] : ['RPM-GPG-KEY-openSUSE-2022', 'RPM-GPG-KEY-openSUSE-Leap-SLE']),
    releasever: (release) => release,
    rpmdb: () => ({ path: '/usr/lib/sysimage/rpm', backend: 'ndb' }),
    signedMetadata: true,
  },
};
