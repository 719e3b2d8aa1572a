/**
 * The apt family's bootstrap: mmdebstrap (fast, needs no mknod, honours SOURCE_DATE_EPOCH), or
 * debootstrap when mmdebstrap is absent. Downloaded .debs are kept in a cache directory and fed
 * back in, so a rebuild after an input change downloads nothing again.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { OsbError } from '../../lib/errors.js';
import { isRoot, userNamespacesAvailable, which } from '../../lib/host.js';
import { fileInTree } from '../../lib/bootable.js';
import { withCopies } from '../../lib/in-tree.js';
import { archiveState, baseSpec, ensureBase, finishTree, installExtras } from './apt-base.js';
import { builtinKeysRoot } from './apk/keys.js';
import { foreignArchTools, type BootstrapOptions, type Engine, type InstalledPackage } from './types.js';
import { byCodePoint } from '../../lib/order.js';

type AptBootstrapOptions = BootstrapOptions;

export type BootstrapMode = 'root' | 'unshare';

/** mmdebstrap's mode for this host, or an error naming both ways out. */
export function chooseMode(): BootstrapMode {
  if (isRoot()) return 'root';
  if (userNamespacesAvailable()) return 'unshare';
  throw new OsbError(
    'building a rootfs needs root or unprivileged user namespaces, and this host has neither',
    'run osb as root (e.g. sudo -E npx osb rootfs), or enable user namespaces (sysctl kernel.unprivileged_userns_clone=1 and apt-get install uidmap)',
  );
}

/**
 * A slim guest, the distro-native way: dpkg never unpacks documentation, man and info pages or
 * translations (the license files stay: /usr/share/doc/PKG/copyright). Kata's Debian image halved
 * this way (kata osbuilder #505, #506). The rules stay in the guest's dpkg.cfg.d, so a package
 * installed later is slim too.
 */
export const SLIM_DPKG_RULES = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-exclude=/usr/share/lintian/*',
];

const MERGED_USR_HOOK = '/usr/share/mmdebstrap/hooks/merged-usr';
/** Releases whose archive has no usr-is-merged package. */
const BEFORE_USR_IS_MERGED = ['buster', 'bullseye', 'focal'];

/** The keyring that verifies the archive: the host's, else the copy osb ships (Ubuntu on Debian). */
export function archiveKeyring(o: Pick<AptBootstrapOptions, 'distro'>): string | undefined {
  const d = o.distro;
  if (!d.keyring || existsSync(d.keyring) || !d.shippedKeyring) return d.keyring;
  const shipped = join(builtinKeysRoot(), d.name, d.shippedKeyring);
  return existsSync(shipped) ? shipped : d.keyring;
}

/** The mmdebstrap command line for these options. */
export function mmdebstrapArgv(o: AptBootstrapOptions, mode: BootstrapMode, debCache: string, keepLists = false): string[] {
  const keyring = archiveKeyring(o);
  const argv = [
    'mmdebstrap',
    '--variant=minbase',
    `--mode=${mode}`,
    // apt's "Get:" lines in the log show exactly what was downloaded (and that cached .debs were not).
    '--verbose',
    // No fsync per file: the tree is staged and only renamed into place when complete, so a
    // crash loses nothing that was durable before. Measured here: about 15 % off a minbase build.
    '--dpkgopt=force-unsafe-io',
    `--arch=${o.distroArch}`,
    `--components=${o.distro.components.join(',')}`,
    // Feed cached .debs in before download and copy new ones out after (mmdebstrap(1), "sync-in").
    '--skip=essential/unlink',
    // Merged /usr set up by mmdebstrap's own hook, with its dummy usr-is-merged: otherwise apt
    // satisfies init-system-helpers with usrmerge, which pulls in a full perl (about 50 MB).
    // Releases from before usr-is-merged existed (bullseye, focal) cannot take the hook: it installs that package.
    ...(existsSync(MERGED_USR_HOOK) && !BEFORE_USR_IS_MERGED.includes(o.release) ? [`--hook-dir=${MERGED_USR_HOOK}`] : []),
    // A cached base keeps the lists it was built from, for the extra packages installed on it.
    ...(keepLists ? ['--skip=cleanup/apt/lists'] : []),
    `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
    `--setup-hook=sync-in ${debCache} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${debCache}`,
    // Kata's rootfs.sh leaves an empty resolv.conf; the runtime provides DNS.
    `--customize-hook=rm -f "$1"/etc/resolv.conf; : > "$1"/etc/resolv.conf`,
    ...(o.slim ? SLIM_DPKG_RULES.map((r) => `--dpkgopt=${r}`) : []),
  ];
  if (keyring) argv.push(`--keyring=${keyring}`);
  if (o.packages.length) argv.push(`--include=${[...o.packages].sort().join(',')}`);
  argv.push(o.release, o.target, o.mirror, ...o.repos.map((r) => sourcesLine(r, o.release)));
  return argv;
}

/** An extra repository as a sources.list line, which mmdebstrap takes as a further mirror. */
export function sourcesLine(r: AptBootstrapOptions['repos'][number], release: string): string {
  const opts = r.key ? ` [signed-by=${r.key}]` : '';
  return `deb${opts} ${r.url} ${r.suite ?? release} ${(r.components ?? ['main']).join(' ')}`;
}

export function debootstrapArgv(o: AptBootstrapOptions, debCache: string): string[] {
  const keyring = archiveKeyring(o);
  const argv = ['debootstrap', '--variant=minbase', `--arch=${o.distroArch}`, `--cache-dir=${debCache}`, `--components=${o.distro.components.join(',')}`];
  if (keyring) argv.push(`--keyring=${keyring}`);
  if (o.packages.length) argv.push(`--include=${[...o.packages].sort().join(',')}`);
  argv.push(o.release, o.target, o.mirror);
  return argv;
}

async function preflight(ctx: BuildContext, o: AptBootstrapOptions): Promise<void> {
  const keyring = archiveKeyring(o);
  if (keyring && keyring !== o.distro.keyring) ctx.log.info(`this host has no ${o.distro.keyring}: using the copy osb ships, ${keyring}`);
  if (ctx.dryRun) return;
  chooseMode();
  if (keyring && !existsSync(keyring)) {
    throw new OsbError(
      `${o.distro.name}'s archive keyring ${keyring} is not on this host`,
      `install ${o.distro.name}'s keyring package (${o.distro.name}-keyring / ${o.distro.name}-archive-keyring)`,
    );
  }
}

async function bootstrapApt(ctx: BuildContext, o: AptBootstrapOptions): Promise<void> {
  const debCache = join(o.cacheDir, 'debs', `${o.distro.name}-${o.distroArch}`);
  if (!ctx.dryRun) await mkdir(debCache, { recursive: true });
  if (which('mmdebstrap')) {
    const mode = chooseMode();
    if (mode === 'root') return bootstrapOnBase(ctx, o, debCache);
    // Unprivileged (user namespace): one pass, no base cache (a copy would need the same mapping).
    ctx.log.info(`bootstrapping ${o.distro.name} ${o.release} (${o.distroArch}) with mmdebstrap`);
    await ctx.run(mmdebstrapArgv(o, mode, debCache), { hint: `see the log; check that ${o.mirror} is reachable and has ${o.release}` });
    return;
  }
  if (!isRoot()) throw new OsbError('mmdebstrap is not installed and debootstrap needs root', 'apt-get install mmdebstrap, or run osb as root');
  if (o.repos.length) throw new OsbError('extra repositories (osb.yaml repos) need mmdebstrap; debootstrap takes one mirror', 'apt-get install mmdebstrap');
  ctx.log.info(`bootstrapping ${o.distro.name} ${o.release} with debootstrap (mmdebstrap not found; it is faster)`);
  if (o.slim) ctx.log.warn('debootstrap cannot leave documentation and translations out: the rootfs is not slim (apt-get install mmdebstrap)');
  await ctx.run(debootstrapArgv(o, debCache), { hint: `see the log; check that ${o.mirror} is reachable and has ${o.release}` });
}

/** The base from the cache (or built into it), copied, then the extra packages on the copy. */
async function bootstrapOnBase(ctx: BuildContext, o: AptBootstrapOptions, debCache: string): Promise<void> {
  const hint = `see the log; check that ${o.mirror} is reachable and has ${o.release}`;
  const state = ctx.dryRun ? 'the archive state (sha256 of InRelease)' : await archiveState(ctx, o.mirror, o.release);
  const spec = baseSpec(o, state);
  const base = await ensureBase(ctx, spec, async (target) => {
    ctx.log.info(`bootstrapping the ${o.distro.name} ${o.release} base (${o.distroArch}) with mmdebstrap`);
    await ctx.run(mmdebstrapArgv({ ...o, packages: spec.packages, target }, 'root', debCache, true), { hint });
  });
  await ctx.run(['cp', '-a', '--reflink=auto', base, o.target]);
  const extras = [...new Set(o.extraPackages ?? [])].sort();
  if (extras.length) {
    ctx.log.info(`installing ${extras.join(' ')} on the base`);
    await installExtras(ctx, o.target, debCache, extras, false, 'see the log: apt-get names the package it could not install');
  }
  if (!ctx.dryRun) await finishTree(o.target);
}

/** Installed packages and versions, read from the rootfs's dpkg database. */
async function listAptPackages(ctx: BuildContext, rootfs: string): Promise<InstalledPackage[]> {
  // dpkg-query runs on the host and would follow the tree's links there (a parent's status file
  // linked to /var/lib/dpkg/status-old lists the host's packages). It reads a copy of the status
  // file, found with the tree's links followed inside the tree, in a database of its own.
  // A tree without one (a busybox parent), as the guest sees it, has no packages to list.
  const status = fileInTree(rootfs, '/var/lib/dpkg/status');
  if (!status) return [];
  const r = await withCopies(ctx.workdir, 'dpkg-admin', { status }, (admin) =>
    ctx.run(['dpkg-query', `--admindir=${admin}`, '-W', '-f', '${Package}\\t${Version}\\t${Architecture}\\n'], { quiet: true, readOnly: true }),
  );
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, version, arch] = l.split('\t');
      return { name: name!, version: version!, arch: arch! };
    })
    .sort((a, b) => byCodePoint(a.name, b.name));
}

/** Extra packages on an existing tree (a parent image): apt-get in a chroot of it. */
async function installOnTree(ctx: BuildContext, o: AptBootstrapOptions, packages: readonly string[]): Promise<void> {
  if (!isRoot()) throw new OsbError('installing packages on a parent image needs root (a chroot with mounts)', 'run osb as root, or leave the packages to the parent');
  const debCache = join(o.cacheDir, 'debs', `${o.distro.name}-${o.distroArch}`);
  if (!ctx.dryRun) await mkdir(debCache, { recursive: true });
  const extras = [...new Set(packages)].sort();
  ctx.log.info(`installing ${extras.join(' ')} on the parent`);
  // A parent image seldom keeps its package lists: apt-get update from its own sources first.
  await installExtras(ctx, o.target, debCache, extras, true, 'see the log: apt-get names the package it could not install (the parent needs apt and its sources)');
  if (!ctx.dryRun) await finishTree(o.target);
}

export const aptEngine: Engine = {
  preflight,
  bootstrap: bootstrapApt,
  installOnTree,
  listPackages: listAptPackages,
  // mmdebstrap checks a foreign arch's binfmt handler with arch-test.
  hostTools: ({ arch, foreign }) => [['mmdebstrap', 'debootstrap'], 'dpkg-query', ...(foreign ? [...foreignArchTools(arch), 'arch-test'] : [])],
};
