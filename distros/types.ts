/** What a distro file declares (DESIGN principle 4). Engines do the work; distros are data. */
export type EngineName = 'apt' | 'apk';
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
  /** Packages every rootfs gets beyond the bootstrap's base. */
  readonly basePackages: readonly string[];
  /** Packages for the systemd variant (agent started by a unit, not as init). */
  readonly systemdPackages: readonly string[];
}
