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

/** A tool whose package has the same name on every host osb supports, as most do. */
function everywhere(pkg: string, more: Pick<ToolInfo, 'min' | 'versionArg'> = {}): ToolInfo {
  return { debian: pkg, fedora: pkg, alpine: pkg, ...more };
}

export const TOOLS: Readonly<Record<string, ToolInfo>> = {
  mmdebstrap: everywhere('mmdebstrap', { min: '1.0.0' }),
  debootstrap: everywhere('debootstrap'),
  'dpkg-query': everywhere('dpkg'),
  // RPM distros: Debian's own dnf 4, zypper and rpm 4.18 (sqlite rpmdb).
  // `dnf --version` starts libdnf, which appends to the host's /var/log/hawkey.log: ask for --help.
  dnf: everywhere('dnf', { versionArg: '--help' }),
  zypper: everywhere('zypper'),
  rpm: everywhere('rpm', { min: '4.16.0' }),
  chroot: everywhere('coreutils'),
  unshare: { debian: 'util-linux', fedora: 'util-linux', alpine: 'util-linux-misc' },
  newuidmap: { debian: 'uidmap', fedora: 'shadow-utils', alpine: 'shadow-uidmap' },
  sfdisk: { debian: 'fdisk', fedora: 'util-linux', alpine: 'sfdisk', min: '2.33.0' },
  parted: everywhere('parted'),
  'qemu-img': { debian: 'qemu-utils', fedora: 'qemu-img', alpine: 'qemu-img', min: '5.0.0' },
  'mkfs.ext4': everywhere('e2fsprogs', { min: '1.46.0', versionArg: '-V' }),
  e2fsck: everywhere('e2fsprogs', { versionArg: '-V' }),
  debugfs: { debian: 'e2fsprogs', fedora: 'e2fsprogs', alpine: 'e2fsprogs-extra', versionArg: '-V' },
  'mkfs.xfs': everywhere('xfsprogs', { min: '5.1.0', versionArg: '-V' }),
  xfs_repair: everywhere('xfsprogs', { versionArg: '-V' }),
  // mkfs.erofs 1.5 has no version flag; fsck.erofs from the same package does.
  'mkfs.erofs': everywhere('erofs-utils'),
  'fsck.erofs': everywhere('erofs-utils', { min: '1.5.0', versionArg: '-V' }),
  'dump.erofs': everywhere('erofs-utils', { versionArg: '-V' }),
  // The measured rootfs (dm-verity hash tree); cryptsetup 2.x.
  veritysetup: { debian: 'cryptsetup-bin', fedora: 'cryptsetup', alpine: 'cryptsetup', min: '2.0.0' },
  losetup: { debian: 'mount', fedora: 'util-linux', alpine: 'losetup' },
  mount: { debian: 'mount', fedora: 'util-linux', alpine: 'util-linux-misc' },
  umount: { debian: 'mount', fedora: 'util-linux', alpine: 'util-linux-misc' },
  cp: everywhere('coreutils'),
  sync: everywhere('coreutils'),
  cpio: everywhere('cpio'),
  gzip: everywhere('gzip'),
  pigz: everywhere('pigz'),
  zstd: everywhere('zstd', { min: '1.4.0', versionArg: '-V' }),
  xz: { debian: 'xz-utils', fedora: 'xz', alpine: 'xz' },
  lz4: everywhere('lz4', { versionArg: '-V' }),
  make: everywhere('make', { min: '4.0.0' }),
  gcc: everywhere('gcc', { min: '5.1.0' }),
  flex: everywhere('flex'),
  bison: everywhere('bison'),
  bc: everywhere('bc'),
  perl: everywhere('perl'),
  tar: everywhere('tar'),
  'qemu-system-x86_64': { debian: 'qemu-system-x86', fedora: 'qemu-system-x86-core', alpine: 'qemu-system-x86_64' },
  'qemu-system-aarch64': { debian: 'qemu-system-arm', fedora: 'qemu-system-aarch64-core', alpine: 'qemu-system-aarch64' },
  // Foreign-arch builds: the cross compiler for the kernel, qemu-user for the guest's scripts,
  // and arch-test, which mmdebstrap runs to see that the host can execute the arch.
  'aarch64-linux-gnu-gcc': { debian: 'gcc-aarch64-linux-gnu', fedora: 'gcc-aarch64-linux-gnu', alpine: 'gcc-aarch64-none-elf' },
  'qemu-aarch64-static': { debian: 'qemu-user-static', fedora: 'qemu-user-static-aarch64', alpine: 'qemu-aarch64' },
  'arch-test': everywhere('arch-test'),
  'update-binfmts': { debian: 'binfmt-support', fedora: 'n/a', alpine: 'n/a', versionArg: '--version' },
  file: everywhere('file'),
  objcopy: everywhere('binutils'),
  sbsign: everywhere('sbsigntool'),
  sbverify: everywhere('sbsigntool'),
  swtpm: everywhere('swtpm'),
  mksquashfs: everywhere('squashfs-tools', { min: '4.4.0', versionArg: '-version' }),
  getfattr: everywhere('attr'),
  podman: everywhere('podman', { min: '4.0.0' }),
  busybox: { debian: 'busybox-static', fedora: 'busybox', alpine: 'busybox-static' },
  // image-build's steps: keys by URL, the parent from the local container store, OpenSCAP, Ansible.
  curl: everywhere('curl'),
  gpg: { debian: 'gnupg', fedora: 'gnupg2', alpine: 'gnupg' },
  skopeo: everywhere('skopeo'),
  oscap: { debian: 'openscap-scanner', fedora: 'openscap-scanner', alpine: 'n/a', min: '1.3.0' },
  'ansible-playbook': { debian: 'ansible-core', fedora: 'ansible-core', alpine: 'ansible-core' },
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
