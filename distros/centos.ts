/** CentOS Stream extends Fedora: same engine and package names, CentOS's BaseOS/AppStream and keys. */
import { fedora, slash } from './fedora.js';
import type { Arch, Distro } from './types.js';

const stream = (release: string): string => release.replace(/^stream/, ''); // stream10 → 10

export const centos: Distro = {
  ...fedora,
  name: 'centos',
  describe: 'CentOS Stream (dnf --installroot)',
  defaultRelease: 'stream10',
  // Stream 8 ended in 2024 (and kept its rpmdb in Berkeley DB, which Debian's rpm cannot write).
  releases: ['stream9', 'stream10'],
  arches: { x86_64: 'x86_64', aarch64: 'aarch64', ppc64le: 'ppc64le', s390x: 's390x' } as Partial<Record<Arch, string>>,
  defaultMirror: () => 'https://mirror.stream.centos.org',
  components: ['baseos', 'appstream'],
  basePackages: ['filesystem', 'bash', 'coreutils', 'util-linux-core'],
  rpm: {
    repositories: (mirror, release, arch) => {
      const n = stream(release);
      if (mirror) {
        return [
          { id: 'baseos', baseurl: `${slash(mirror)}${n}-stream/BaseOS/${arch}/os/` },
          { id: 'appstream', baseurl: `${slash(mirror)}${n}-stream/AppStream/${arch}/os/` },
        ];
      }
      return [
        { id: 'baseos', metalink: `https://mirrors.centos.org/metalink?repo=centos-baseos-${n}-stream&arch=${arch}&protocol=https` },
        { id: 'appstream', metalink: `https://mirrors.centos.org/metalink?repo=centos-appstream-${n}-stream&arch=${arch}&protocol=https` },
      ];
    },
    // centos-gpg-keys: RPM-GPG-KEY-centosofficial (9) and its SHA-256 self-signed copy (10).
    keys: (release) => [stream(release) === '9' ? 'RPM-GPG-KEY-CentOS-Official' : 'RPM-GPG-KEY-CentOS-Official-SHA256'],
    releasever: (release) => `${stream(release)}-stream`,
    // EL9 keeps the database in /var/lib/rpm; EL10 moved it to /usr/lib/sysimage/rpm. Both sqlite.
    rpmdb: (release) => ({ path: stream(release) === '9' ? '/var/lib/rpm' : '/usr/lib/sysimage/rpm', backend: 'sqlite' }),
    signedMetadata: false,
  },
};
