/**
 * Fedora: installed with dnf --installroot from Fedora's rpm-md repositories (fedora + updates),
 * every package and (with --mirror) every repomd.xml checked against Fedora's key for the release.
 */
import type { Arch, Distro, RpmDistro } from './types.js';

const FEDORA_ARCHES: Partial<Record<Arch, string>> = { x86_64: 'x86_64', aarch64: 'aarch64', ppc64le: 'ppc64le', s390x: 's390x' };

/** `base` with one trailing slash, so repository paths join cleanly. */
export const slash = (base: string): string => base.replace(/\/+$/, '') + '/';

const fedoraRpm: RpmDistro = {
  repositories: (mirror, release, arch) => {
    if (mirror) {
      return [
        { id: 'fedora', baseurl: `${slash(mirror)}releases/${release}/Everything/${arch}/os/` },
        { id: 'updates', baseurl: `${slash(mirror)}updates/${release}/Everything/${arch}/` },
      ];
    }
    // Fedora's own mirror selection: HTTPS, and it carries the repomd.xml checksums (Fedora does
    // not sign repomd.xml; packages are signed).
    return [
      { id: 'fedora', metalink: `https://mirrors.fedoraproject.org/metalink?repo=fedora-${release}&arch=${arch}` },
      { id: 'updates', metalink: `https://mirrors.fedoraproject.org/metalink?repo=updates-released-f${release}&arch=${arch}` },
    ];
  },
  keys: (release) => [`RPM-GPG-KEY-fedora-${release}-primary`],
  releasever: (release) => release,
  // Fedora moved the database to /usr/lib/sysimage/rpm in 36 (sqlite since 33).
  rpmdb: () => ({ path: '/usr/lib/sysimage/rpm', backend: 'sqlite' }),
  signedMetadata: false,
};

export const fedora: Distro = {
  name: 'fedora',
  describe: 'Fedora (dnf --installroot)',
  defaultRelease: '44',
  // The releases Fedora supports (N and N-1) and the one branched for the next.
  releases: ['43', '44', '45'],
  arches: FEDORA_ARCHES,
  engine: 'dnf',
  // ppc64le and s390x are "secondary" architectures, published beside the primary ones.
  defaultMirror: (arch) => (arch === 'ppc64le' || arch === 's390x' ? 'https://dl.fedoraproject.org/pub/fedora-secondary' : 'https://dl.fedoraproject.org/pub/fedora/linux'),
  components: ['fedora', 'updates'],
  // What the agent as init needs: a shell, mount/mountpoint, cat/cut (rootfs-builder/agent/osb-agent.sh).
  basePackages: ['filesystem', 'bash', 'coreutils', 'util-linux-core'],
  systemdPackages: ['systemd', 'systemd-udev'],
  rpm: fedoraRpm,
  containerTools: {
    // toolbox's requirements by Fedora's names: capsh is in libcap, useradd and usermod in shadow-utils.
    toolbox: ['libcap', 'passwd', 'shadow-utils', 'sudo', 'util-linux'],
    // distrobox-init's dnf list, without the graphics drivers it adds after it.
    distrobox: ['bash', 'bc', 'curl', 'diffutils', 'dnf-plugins-core', 'findutils', 'gnupg2', 'less', 'lsof', 'ncurses', 'passwd', 'pinentry', 'procps-ng', 'shadow-utils', 'sudo', 'time', 'util-linux', 'wget', 'vte-profile'],
    sudoGroup: 'wheel',
  },
};
