/** Debian: bootstrapped with mmdebstrap (debootstrap as fallback) from Debian's archive. */
import type { Arch, Distro } from './types.js';

const DEBIAN_ARCHES: Partial<Record<Arch, string>> = { x86_64: 'amd64', aarch64: 'arm64', ppc64le: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' };

export const debian: Distro = {
  name: 'debian',
  describe: 'Debian (mmdebstrap, minbase)',
  defaultRelease: 'bookworm',
  releases: ['bullseye', 'bookworm', 'trixie', 'forky', 'sid', 'unstable', 'testing', 'stable', 'oldstable'],
  arches: DEBIAN_ARCHES,
  engine: 'apt',
  defaultMirror: () => 'http://deb.debian.org/debian',
  components: ['main'],
  keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
  keyringPackage: 'debian-archive-keyring',
  basePackages: [],
  systemdPackages: ['systemd', 'systemd-sysv', 'udev'],
  containerTools: {
    // toolbox's own Debian image: its extra-packages and libnss-myhostname, with mtr-tiny for mtr
    // (the same mtr without GTK); capsh is libcap2-bin, mount(8) is mount.
    toolbox: [
      'bash-completion', 'bc', 'bzip2', 'diffutils', 'findutils', 'flatpak-xdg-utils', 'git', 'gnupg', 'gpgsm', 'hostname', 'iproute2', 'iputils-ping',
      'iputils-tracepath', 'keyutils', 'less', 'libcap2-bin', 'libkrb5-3', 'libnss-mdns', 'libnss-myhostname', 'lsof', 'man-db', 'manpages', 'mount', 'mtr-tiny',
      'nano', 'openssh-client', 'passwd', 'pigz', 'procps', 'rsync', 'sudo', 'tcpdump', 'time', 'traceroute', 'tree', 'unzip', 'util-linux', 'wget', 'xauth',
      'xz-utils', 'zip',
    ],
    // distrobox-init's apt-get list, without the graphics drivers it adds after it.
    distrobox: [
      'bash', 'apt-utils', 'bc', 'curl', 'dialog', 'diffutils', 'findutils', 'gnupg2', 'less', 'libnss-myhostname', 'libvte-2.91-common', 'lsof', 'mount',
      'ncurses-base', 'passwd', 'pinentry-curses', 'procps', 'sudo', 'time', 'util-linux', 'wget',
    ],
    sudoGroup: 'sudo',
  },
};
