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
};
