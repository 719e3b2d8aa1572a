/** CentOS Stream extends Fedora as an Enterprise Linux (el.ts): CentOS's BaseOS/AppStream and keys. */
import { elRepositories, elRpmdb, el } from './el.js';
import { slash } from './fedora.js';
import type { Distro } from './types.js';

const stream = (release: string): string => release.replace(/^stream/, ''); // stream10 → 10

export const centos: Distro = {
  ...el,
  name: 'centos',
  describe: 'CentOS Stream (dnf --installroot)',
  // Stream 8 ended in 2024 (and kept its rpmdb in Berkeley DB, which Debian's rpm cannot write).
  releases: ['stream9', 'stream10'],
  defaultRelease: 'stream10',
  defaultMirror: () => 'https://mirror.stream.centos.org',
  rpm: {
    repositories: (mirror, release, arch) => {
      const n = stream(release);
      if (mirror) return elRepositories(`${slash(mirror)}${n}-stream/`, arch);
      return [
        { id: 'baseos', metalink: `https://mirrors.centos.org/metalink?repo=centos-baseos-${n}-stream&arch=${arch}&protocol=https` },
        { id: 'appstream', metalink: `https://mirrors.centos.org/metalink?repo=centos-appstream-${n}-stream&arch=${arch}&protocol=https` },
      ];
    },
    // centos-gpg-keys: RPM-GPG-KEY-centosofficial (9) and its SHA-256 self-signed copy (10).
    keys: (release) => [stream(release) === '9' ? 'RPM-GPG-KEY-CentOS-Official' : 'RPM-GPG-KEY-CentOS-Official-SHA256'],
    releasever: (release) => `${stream(release)}-stream`,
    rpmdb: (release) => elRpmdb(stream(release)),
    signedMetadata: false,
  },
};
