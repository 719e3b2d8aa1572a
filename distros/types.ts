/** What a distro file declares (DESIGN principle 4). Engines do the work; distros are data. */
export type EngineName = 'apt' | 'apk' | 'dnf' | 'zypper';
/** osb's architecture names (the kernel's / uname -m). */
export type Arch = 'x86_64' | 'aarch64' | 'ppc64le' | 's390x' | 'riscv64';

export interface Distro {
  readonly name: string;
  readonly describe: string;
  readonly defaultRelease: string;
  /** Releases osb knows; another name is refused with this list. */
  readonly releases: readonly string[];
  /** osb arch → the distro's arch name. */
  readonly arches: Readonly<Partial<Record<Arch, string>>>;
  readonly engine: EngineName;
  /** The official archive for an arch. */
  defaultMirror(arch: Arch): string;
  /** Archive components / repositories to enable. */
  readonly components: readonly string[];
  /** Keyring file (apt) that signs the archive. */
  readonly keyring?: string;
  /** The host package that installs `keyring` (what `osb check-deps --install` installs). */
  readonly keyringPackage?: string;
  /** A copy of that keyring shipped with osb (distros/keys/<name>/), used when the host has none. */
  readonly shippedKeyring?: string;
  /** Packages every rootfs gets beyond the bootstrap's base. */
  readonly basePackages: readonly string[];
  /** Packages for the systemd variant (agent started by a unit, not as init). */
  readonly systemdPackages: readonly string[];
  /** What the dnf and zypper engines need (RPM distros only). */
  readonly rpm?: RpmDistro;
  /** What toolbox and distrobox need in an image, by this distro's package names; absent where osb knows no list. */
  readonly containerTools?: ContainerToolPackages;
}

/** `--toolbox` and `--distrobox`: the packages each tool needs in the image, and the group sudo lets in. */
export interface ContainerToolPackages {
  /** toolbox's image requirements (capsh, mount, passwd, useradd, usermod, sudo), and for Debian what toolbox's own Debian image carries. */
  readonly toolbox: readonly string[];
  /** What distrobox-init checks for before it installs anything at the first entry, from its own list for this package manager. */
  readonly distrobox: readonly string[];
  /** The group toolbox puts the user in, whose members sudo lets in without a password. */
  readonly sudoGroup: 'sudo' | 'wheel';
}

/** One rpm-md repository: a base URL (from --mirror or the official archive) or a metalink. */
export interface RpmRepository {
  /** dnf's section name, zypper's alias. */
  readonly id: string;
  readonly baseurl?: string;
  /** Used only without --mirror: the distro's own mirror selection (HTTPS, with repomd checksums). */
  readonly metalink?: string;
}

/** Backends of the rpm database. Debian's rpm 4.18 writes sqlite only. */
export type RpmdbBackend = 'sqlite' | 'ndb' | 'bdb';

export interface RpmDistro {
  /** Repositories of a release. `mirror` is --mirror, or undefined for the official ones. */
  repositories(mirror: string | undefined, release: string, arch: string): RpmRepository[];
  /** Key files (in distros/keys/<name>/) that sign this release's packages and metadata. */
  keys(release: string): readonly string[];
  /** The value of $releasever. */
  releasever(release: string): string;
  /** Where the target's own rpm looks for its database, and which backend it reads. */
  rpmdb(release: string): { readonly path: '/usr/lib/sysimage/rpm' | '/var/lib/rpm'; readonly backend: RpmdbBackend };
  /**
   * The repositories sign repomd.xml (repomd.xml.asc). Where upstream does not (Fedora, CentOS), the
   * official metalink's checksums vouch for it instead; a --mirror must still serve a signed one.
   */
  readonly signedMetadata: boolean;
  /** Upstream never signed its packages (Clear Linux): refused without --allow-unsigned. */
  readonly unsigned?: boolean;
}
