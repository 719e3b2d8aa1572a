/** Rocky Linux extends Fedora (an EL rebuild): BaseOS/AppStream from Rocky's archive, Rocky's keys. */
import { fedora, slash } from './fedora.js';
import type { Arch, Distro } from './types.js';

const major = (release: string): string => release.split('.')[0]!;

export const rocky: Distro = {
  ...fedora,
  name: 'rocky',
  describe: 'Rocky Linux (dnf --installroot)',
  defaultRelease: '10',
  releases: ['8', '9', '10'],
  arches: { x86_64: 'x86_64', aarch64: 'aarch64', ppc64le: 'ppc64le', s390x: 's390x' } as Partial<Record<Arch, string>>,
  defaultMirror: () => 'https://dl.rockylinux.org/pub/rocky',
  components: ['baseos', 'appstream'],
  basePackages: ['filesystem', 'bash', 'coreutils', 'util-linux-core'],
  rpm: {
    repositories: (mirror, release, arch) => {
      const m = slash(mirror ?? 'https://dl.rockylinux.org/pub/rocky');
      return [
        { id: 'baseos', baseurl: `${m}${release}/BaseOS/${arch}/os/` },
        { id: 'appstream', baseurl: `${m}${release}/AppStream/${arch}/os/` },
      ];
    },
    keys: (release) => [`RPM-GPG-KEY-Rocky-${major(release)}`],
    releasever: (release) => release,
    // EL8 reads Berkeley DB (refused: Debian's rpm writes sqlite only); EL9 /var/lib/rpm; EL10 /usr/lib/sysimage/rpm.
    rpmdb: (release) =>
      major(release) === '8' ? { path: '/var/lib/rpm', backend: 'bdb' } : { path: major(release) === '9' ? '/var/lib/rpm' : '/usr/lib/sysimage/rpm', backend: 'sqlite' },
    signedMetadata: true,
  },
};
