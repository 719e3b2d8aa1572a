/** Rocky Linux extends Fedora as an Enterprise Linux (el.ts): BaseOS/AppStream from Rocky's archive, Rocky's keys. */
import { elRepositories, elRpmdb, el } from './el.js';
import { slash } from './fedora.js';
import type { Distro } from './types.js';

const ARCHIVE = 'https://dl.rockylinux.org/pub/rocky';
const major = (release: string): string => release.split('.')[0]!;

export const rocky: Distro = {
  ...el,
  name: 'rocky',
  describe: 'Rocky Linux (dnf --installroot)',
  defaultRelease: '10',
  releases: ['8', '9', '10'],
  defaultMirror: () => ARCHIVE,
  rpm: {
    repositories: (mirror, release, arch) => elRepositories(`${slash(mirror ?? ARCHIVE)}${release}/`, arch),
    keys: (release) => [`RPM-GPG-KEY-Rocky-${major(release)}`],
    releasever: (release) => release,
    // EL8 reads Berkeley DB (refused: Debian's rpm writes sqlite only).
    rpmdb: (release) => (major(release) === '8' ? { path: '/var/lib/rpm', backend: 'bdb' } : elRpmdb(major(release))),
    signedMetadata: true,
  },
};
