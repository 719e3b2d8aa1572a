/**
 * Clear Linux OS, as Clear Containers' osbuilder built it: its rpm repository through dnf. Its
 * packages were never signed, so osb refuses it without --allow-unsigned. Intel ended the
 * project in 2025; the last published release stays on the mirror.
 */
import { fedora, slash } from './fedora.js';
import type { Arch, Distro } from './types.js';

export const clearlinux: Distro = {
  ...fedora,
  name: 'clearlinux',
  describe: 'Clear Linux OS (dnf; unsigned: needs --allow-unsigned; ended in 2025)',
  defaultRelease: 'current',
  releases: ['current'],
  arches: { x86_64: 'x86_64' } as Partial<Record<Arch, string>>,
  defaultMirror: () => 'https://cdn.download.clearlinux.org',
  components: ['clear'],
  basePackages: ['filesystem', 'bash', 'coreutils', 'util-linux'],
  systemdPackages: ['systemd'],
  // Fedora's toolbox and distrobox names are not this distro's: osb knows no list.
  containerTools: undefined,
  rpm: {
    repositories: (mirror, release, arch) => [{ id: 'clear', baseurl: `${slash(mirror ?? 'https://cdn.download.clearlinux.org')}${release}/${arch}/os/` }],
    keys: () => [],
    releasever: (release) => release,
    rpmdb: () => ({ path: '/var/lib/rpm', backend: 'sqlite' }),
    signedMetadata: false,
    unsigned: true,
  },
};
