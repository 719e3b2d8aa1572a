/** Azure Linux (formerly CBL-Mariner): Microsoft's rpm-md repositories on packages.microsoft.com. */
import { fedora, slash } from './fedora.js';
import type { Arch, Distro } from './types.js';

export const azurelinux: Distro = {
  ...fedora,
  name: 'azurelinux',
  describe: 'Azure Linux / CBL-Mariner (dnf --installroot; the distro itself uses tdnf)',
  defaultRelease: '3.0',
  // CBL-Mariner 2.0 reached its end of life in July 2025.
  releases: ['3.0'],
  arches: { x86_64: 'x86_64', aarch64: 'aarch64' } as Partial<Record<Arch, string>>,
  defaultMirror: () => 'https://packages.microsoft.com/azurelinux',
  components: ['base'],
  basePackages: ['filesystem', 'bash', 'coreutils', 'util-linux'],
  systemdPackages: ['systemd'],
  // Fedora's toolbox and distrobox names are not this distro's: osb knows no list.
  containerTools: undefined,
  rpm: {
    repositories: (mirror, release, arch) => [{ id: 'azurelinux-base', baseurl: `${slash(mirror ?? 'https://packages.microsoft.com/azurelinux')}${release}/prod/base/${arch}/` }],
    // azurelinux-repos: the RPM key signs packages, the metadata key signs repomd.xml.
    keys: () => ['MICROSOFT-RPM-GPG-KEY', 'MICROSOFT-METADATA-GPG-KEY'],
    releasever: (release) => release,
    rpmdb: () => ({ path: '/var/lib/rpm', backend: 'sqlite' }),
    signedMetadata: true,
  },
};
