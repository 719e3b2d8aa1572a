/** openEuler, the open edition of Huawei's EulerOS: OS, everything and update repositories. */
import { fedora, slash } from './fedora.js';
import type { Arch, Distro } from './types.js';

export const openeuler: Distro = {
  ...fedora,
  name: 'openeuler',
  describe: 'openEuler / EulerOS (dnf --installroot)',
  defaultRelease: '24.03-LTS-SP2',
  // The LTS releases with community support.
  releases: ['22.03-LTS-SP4', '24.03-LTS-SP2'],
  arches: { x86_64: 'x86_64', aarch64: 'aarch64' } as Partial<Record<Arch, string>>,
  defaultMirror: () => 'https://repo.openeuler.org',
  components: ['OS', 'everything', 'update'],
  basePackages: ['filesystem', 'bash', 'coreutils', 'util-linux'],
  rpm: {
    repositories: (mirror, release, arch) => {
      const m = `${slash(mirror ?? 'https://repo.openeuler.org')}openEuler-${release}/`;
      return [
        { id: 'OS', baseurl: `${m}OS/${arch}/` },
        { id: 'everything', baseurl: `${m}everything/${arch}/` },
        { id: 'update', baseurl: `${m}update/${arch}/` },
      ];
    },
    // The OBS key signs 22.03's packages; EulerMaker's key the later service packs'.
    keys: () => ['RPM-GPG-KEY-openEuler', 'RPM-GPG-KEY-openEuler-EulerMaker'],
    releasever: (release) => release,
    rpmdb: () => ({ path: '/var/lib/rpm', backend: 'sqlite' }),
    signedMetadata: true,
  },
};
