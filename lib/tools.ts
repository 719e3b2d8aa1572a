/**
 * The host tools osb runs, and the package that provides each one on the hosts osb supports.
 * Used by lib/run.ts to turn "not found" into an install hint, and by `osb check-deps`.
 */
export interface ToolInfo {
  /** Package names: Debian/Ubuntu, Fedora, Alpine. */
  readonly debian: string;
  readonly fedora: string;
  readonly alpine: string;
  /** Minimum version osb needs, as semver. */
  readonly min?: string;
  /** Argument that prints the version (default --version). */
  readonly versionArg?: string;
}

export const TOOLS: Readonly<Record<string, ToolInfo>> = {
  mmdebstrap: { debian: 'mmdebstrap', fedora: 'mmdebstrap', alpine: 'mmdebstrap', min: '1.0.0' },
  debootstrap: { debian: 'debootstrap', fedora: 'debootstrap', alpine: 'debootstrap' },
  'dpkg-query': { debian: 'dpkg', fedora: 'dpkg', alpine: 'dpkg' },
  // RPM distros: Debian's own dnf 4, zypper and rpm 4.18 (sqlite rpmdb).
  // `dnf --version` starts libdnf, which appends to the host's /var/log/hawkey.log: ask for --help.
  dnf: { debian: 'dnf', fedora: 'dnf', alpine: 'dnf', versionArg: '--help' },
  zypper: { debian: 'zypper', fedora: 'zypper', alpine: 'zypper' },
  rpm: { debian: 'rpm', fedora: 'rpm', alpine: 'rpm', min: '4.16.0' },
  chroot: { debian: 'coreutils', fedora: 'coreutils', alpine: 'coreutils' },
  unshare: { debian: 'util-linux', fedora: 'util-linux', alpine: 'util-linux-misc' },
  newuidmap: { debian: 'uidmap', fedora: 'shadow-utils', alpine: 'shadow-uidmap' },
  sfdisk: { debian: 'fdisk', fedora: 'util-linux', alpine: 'sfdisk', min: '2.33.0' },
  parted: { debian: 'parted', fedora: 'parted', alpine: 'parted' },
  'qemu-img': { debian: 'qemu-utils', fedora: 'qemu-img', alpine: 'qemu-img', min: '5.0.0' },
  'mkfs.ext4': { debian: 'e2fsprogs', fedora: 'e2fsprogs', alpine: 'e2fsprogs', min: '1.46.0', versionArg: '-V' },
  e2fsck: { debian: 'e2fsprogs', fedora: 'e2fsprogs', alpine: 'e2fsprogs', versionArg: '-V' },
  debugfs: { debian: 'e2fsprogs', fedora: 'e2fsprogs', alpine: 'e2fsprogs-extra', versionArg: '-V' },
  'mkfs.xfs': { debian: 'xfsprogs', fedora: 'xfsprogs', alpine: 'xfsprogs', min: '5.1.0', versionArg: '-V' },
  xfs_repair: { debian: 'xfsprogs', fedora: 'xfsprogs', alpine: 'xfsprogs', versionArg: '-V' },
  // mkfs.erofs 1.5 has no version flag; fsck.erofs from the same package does.
  'mkfs.erofs': { debian: 'erofs-utils', fedora: 'erofs-utils', alpine: 'erofs-utils' },
  'fsck.erofs': { debian: 'erofs-utils', fedora: 'erofs-utils', alpine: 'erofs-utils', min: '1.5.0', versionArg: '-V' },
  'dump.erofs': { debian: 'erofs-utils', fedora: 'erofs-utils', alpine: 'erofs-utils', versionArg: '-V' },
  // The measured rootfs (dm-verity hash tree); cryptsetup 2.x.
  veritysetup: { debian: 'cryptsetup-bin', fedora: 'cryptsetup', alpine: 'cryptsetup', min: '2.0.0' },
  losetup: { debian: 'mount', fedora: 'util-linux', alpine: 'losetup' },
  mount: { debian: 'mount', fedora: 'util-linux', alpine: 'util-linux-misc' },
  umount: { debian: 'mount', fedora: 'util-linux', alpine: 'util-linux-misc' },
  cp: { debian: 'coreutils', fedora: 'coreutils', alpine: 'coreutils' },
  sync: { debian: 'coreutils', fedora: 'coreutils', alpine: 'coreutils' },
  cpio: { debian: 'cpio', fedora: 'cpio', alpine: 'cpio' },
  gzip: { debian: 'gzip', fedora: 'gzip', alpine: 'gzip' },
  pigz: { debian: 'pigz', fedora: 'pigz', alpine: 'pigz' },
  zstd: { debian: 'zstd', fedora: 'zstd', alpine: 'zstd', min: '1.4.0', versionArg: '-V' },
  xz: { debian: 'xz-utils', fedora: 'xz', alpine: 'xz' },
  lz4: { debian: 'lz4', fedora: 'lz4', alpine: 'lz4', versionArg: '-V' },
  make: { debian: 'make', fedora: 'make', alpine: 'make', min: '4.0.0' },
  gcc: { debian: 'gcc', fedora: 'gcc', alpine: 'gcc', min: '5.1.0' },
  flex: { debian: 'flex', fedora: 'flex', alpine: 'flex' },
  bison: { debian: 'bison', fedora: 'bison', alpine: 'bison' },
  bc: { debian: 'bc', fedora: 'bc', alpine: 'bc' },
  perl: { debian: 'perl', fedora: 'perl', alpine: 'perl' },
  tar: { debian: 'tar', fedora: 'tar', alpine: 'tar' },
  'qemu-system-x86_64': { debian: 'qemu-system-x86', fedora: 'qemu-system-x86-core', alpine: 'qemu-system-x86_64' },
  'qemu-system-aarch64': { debian: 'qemu-system-arm', fedora: 'qemu-system-aarch64-core', alpine: 'qemu-system-aarch64' },
  // Foreign-arch builds: the cross compiler for the kernel, qemu-user for the guest's scripts,
  // and arch-test, which mmdebstrap runs to see that the host can execute the arch.
  'aarch64-linux-gnu-gcc': { debian: 'gcc-aarch64-linux-gnu', fedora: 'gcc-aarch64-linux-gnu', alpine: 'gcc-aarch64-none-elf' },
  'qemu-aarch64-static': { debian: 'qemu-user-static', fedora: 'qemu-user-static-aarch64', alpine: 'qemu-aarch64' },
  'arch-test': { debian: 'arch-test', fedora: 'arch-test', alpine: 'arch-test' },
  'update-binfmts': { debian: 'binfmt-support', fedora: 'n/a', alpine: 'n/a', versionArg: '--version' },
  file: { debian: 'file', fedora: 'file', alpine: 'file' },
  mksquashfs: { debian: 'squashfs-tools', fedora: 'squashfs-tools', alpine: 'squashfs-tools', min: '4.4.0', versionArg: '-version' },
  getfattr: { debian: 'attr', fedora: 'attr', alpine: 'attr' },
  podman: { debian: 'podman', fedora: 'podman', alpine: 'podman', min: '4.0.0' },
  busybox: { debian: 'busybox-static', fedora: 'busybox', alpine: 'busybox-static' },
};

/** "X not found; it is in package P" text for a missing tool. */
export function missingToolMessage(tool: string): { message: string; hint: string } {
  const info = TOOLS[tool];
  if (!info) return { message: `${tool} not found on PATH`, hint: 'install it, then run `osb check-deps`' };
  return {
    message: `${tool} not found; it is in package ${info.debian} (Debian/Ubuntu), ${info.fedora} (Fedora), ${info.alpine} (Alpine)`,
    hint: `apt-get install ${info.debian}, or run \`osb check-deps --install\``,
  };
}
