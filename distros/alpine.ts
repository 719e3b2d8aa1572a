/**
 * Alpine Linux: installed by osb's own apk engine (rootfs-builder/engines/apk) from signed v2
 * indexes, busybox-based, with the agent as /sbin/init (Alpine has no systemd).
 */
import type { Arch, Distro } from './types.js';

const ALPINE_ARCHES: Partial<Record<Arch, string>> = { x86_64: 'x86_64', aarch64: 'aarch64', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export const alpine: Distro = {
  name: 'alpine',
  describe: 'Alpine Linux (osb apk engine, busybox)',
  // The newest stable branch whose repositories publish v2 indexes (APKINDEX.tar.gz).
  defaultRelease: 'v3.22',
  releases: ['v3.18', 'v3.19', 'v3.20', 'v3.21', 'v3.22', 'edge'],
  arches: ALPINE_ARCHES,
  engine: 'apk',
  defaultMirror: () => 'https://dl-cdn.alpinelinux.org/alpine',
  components: ['main', 'community'],
  // What Alpine's alpine-make-rootfs installs as a base (ALPINE_BASE_PKGS, less busybox-suid).
  basePackages: ['alpine-baselayout', 'busybox', 'musl-utils'],
  // The systemd variant would need systemd, which Alpine does not have: the apk engine refuses
  // a package list that asks for it, with a hint to use --agent-init.
  systemdPackages: [],
  containerTools: {
    // busybox's mount and passwd are not util-linux's and shadow's, which toolbox calls with their options.
    toolbox: ['bash', 'libcap-utils', 'shadow', 'sudo', 'util-linux'],
    // distrobox-init's apk list, without vte3 and the graphics drivers.
    distrobox: ['bash', 'bc', 'curl', 'diffutils', 'findutils', 'gnupg', 'less', 'lsof', 'ncurses', 'pinentry', 'procps', 'shadow', 'sudo', 'util-linux', 'wget'],
    sudoGroup: 'wheel',
  },
};
