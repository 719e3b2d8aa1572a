/**
 * What a package-manager engine is and takes (DESIGN principle 4). The engines import this
 * file; rootfs-builder/engines/index.ts, the registry, imports the engines.
 */
import type { BuildContext } from '../../lib/context.js';
import type { Arch, Distro } from '../../distros/types.js';

/** An extra package repository (osb.yaml `repos`), with the key that signs it. */
export interface ExtraRepo {
  /** apt: the archive root; apk: the repository (…/v3.22/testing); rpm: the repository. */
  readonly url: string;
  /** Public signing key file. */
  readonly key?: string;
  /** apt only: suite (default: the release) and components (default: main). */
  readonly suite?: string;
  readonly components?: readonly string[];
  /** The repository id (image-build `alias`). */
  readonly alias?: string;
  /** zypper priority. */
  readonly priority?: number;
  /** --dry-run: where a key given by URL will be once fetched (not checked: it is not there yet). */
  readonly pendingKey?: string;
}

export interface BootstrapOptions {
  readonly distro: Distro;
  readonly release: string;
  readonly arch: Arch;
  /** The distro's name for the architecture (amd64, x86_64, ...). */
  readonly distroArch: string;
  readonly mirror: string;
  /** Packages beyond the distro's base set (init packages and EXTRA_PKGS). */
  readonly packages: readonly string[];
  /** Which of `packages` the user asked for (EXTRA_PKGS), as opposed to the distro's own set. */
  readonly extraPackages?: readonly string[];
  /** Directory to bootstrap into (does not exist yet). */
  readonly target: string;
  /** Download cache shared by every build. */
  readonly cacheDir: string;
  /** Extra trusted signing keys (--keys-dir). */
  readonly keysDir?: string;
  /** Repositories beyond the distro's own. */
  readonly repos: readonly ExtraRepo[];
  /** The agent will be /sbin/init; without it the distro's init system must be installed. */
  readonly agentInit: boolean;
  /** Leave out documentation, man/info pages and translations (license files stay). */
  readonly slim: boolean;
  /** `mirror` came from --mirror (not the distro's official archive). */
  readonly customMirror?: boolean;
  /** Package groups (dnf comps groups, zypper patterns). */
  readonly packageGroups?: readonly string[];
  /** Install from a distro whose packages are not signed (Clear Linux). */
  readonly allowUnsigned?: boolean;
  /** false: only the extra repos, not the distro's own (image-build's repos). @default true */
  readonly distroRepos?: boolean;
  /** dnf module commands run before the packages (image-build `modules`). */
  readonly modules?: readonly { readonly command: string; readonly specs: readonly string[] }[];
  /** Removed after the installs, with the dependencies only they needed (image-build `remove_packages`). */
  readonly removePackages?: readonly string[];
  /** HTTP proxy for the package manager. */
  readonly proxy?: string;
}

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
}

export interface Engine {
  /** Fail fast (before any download) when the host cannot run this engine. */
  preflight(ctx: BuildContext, o: BootstrapOptions): Promise<void>;
  bootstrap(ctx: BuildContext, o: BootstrapOptions): Promise<void>;
  /**
   * Install packages on an existing tree (a --parent image unpacked as the base). Engines without
   * it cannot add packages to a parent.
   */
  installOnTree?(ctx: BuildContext, o: BootstrapOptions, packages: readonly string[]): Promise<void>;
  /** Installed packages with versions, from the tree's package database, sorted by name. */
  listPackages(ctx: BuildContext, rootfs: string): Promise<InstalledPackage[]>;
  /**
   * The host tools this engine runs (a list: any one of them), for a build of `arch`; `foreign`
   * when that is not the host's arch (the guest's scripts then run through qemu-user).
   */
  hostTools(o: { readonly arch: string; readonly foreign: boolean }): readonly (string | readonly string[])[];
  /** Why it needs root, when it does ("rpm scriptlets in a chroot"); else root or user namespaces will do. */
  readonly needsRoot?: string;
}

/** What every engine needs for a foreign arch: the guest's binaries run through qemu-user via binfmt_misc. */
export const foreignArchTools = (arch: string): string[] => [`qemu-${arch}-static`, 'update-binfmts'];
