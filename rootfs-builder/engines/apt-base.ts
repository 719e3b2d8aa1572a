/**
 * The base-tree cache for apt distros (as root), like mkosi's Incremental=: every rootfs is
 * built in two steps, the same way whether the first comes from the cache or not:
 *
 * 1. the base: mmdebstrap of the distro's base set (minbase, plus init packages), kept in
 *    CACHE/base/ under a key of everything it depends on: distro, release, arch, mirror, extra
 *    repositories, the package set, slim, this recipe, and the archive's state (the sha256 of its
 *    signed InRelease). When the archive moves, the key moves and the base is built again.
 * 2. the extra packages: a copy of the base, and `apt-get install` of EXTRA_PKGS in a chroot,
 *    with the package lists the base was built from (verified by mmdebstrap then).
 *
 * So a rebuild after an EXTRA_PKGS change copies the base and installs the new packages only,
 * and gives the tree a cold build gives at the same archive state: a cold build takes the same
 * second step. Mounts for the chroot live in a private mount namespace (unshare), so they go
 * away with it, even when osb is killed.
 */
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, rename, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { fileInTree } from '../../lib/bootable.js';
import { dirInTree, freshInTree, inTree } from '../../lib/in-tree.js';
import { writeFileMode } from '../../lib/modes.js';
import type { BuildContext } from '../../lib/context.js';
import { OsbError } from '../../lib/errors.js';
import { hashValue, sha256 } from '../../lib/hash.js';
import { ensureCachedTree } from '../../lib/tree-cache.js';
import type { BootstrapOptions } from './types.js';

/** Bump when the base's recipe (mmdebstrap's arguments, the finishing steps) changes. */
const RECIPE = 'base-v2';
/** Bases kept per distro/release/arch: the newest few, so an archive update does not pile up. */
const KEEP = 2;

/** The archive's state: sha256 of `dists/RELEASE/InRelease` (or Release) on the mirror. */
export async function archiveState(ctx: BuildContext, mirror: string, release: string): Promise<string> {
  const base = `${mirror.replace(/\/+$/, '')}/dists/${release}`;
  if (base.startsWith('file://')) {
    // A local mirror (mmdebstrap takes file:// too): Node's fetch does not read files.
    for (const name of ['InRelease', 'Release']) {
      const p = join(fileURLToPath(base), name);
      if (existsSync(p)) return sha256(await readFile(p));
    }
    throw new OsbError(`${mirror} has no ${release} (no dists/${release}/InRelease or Release)`, 'check --mirror and --os-version');
  }
  for (const name of ['InRelease', 'Release']) {
    let res: Response;
    try {
      res = await fetch(`${base}/${name}`, { signal: ctx.signal });
    } catch (e) {
      if (ctx.signal?.aborted) throw e;
      const cause = (e as { cause?: { code?: string } }).cause;
      throw new OsbError(`cannot reach ${base}/${name}: ${cause?.code ?? (e as Error).message}`, `check that ${mirror} is reachable and has ${release}`);
    }
    if (res.ok) return sha256(Buffer.from(await res.arrayBuffer()));
  }
  throw new OsbError(`${mirror} has no ${release} (no dists/${release}/InRelease or Release)`, 'check --mirror and --os-version');
}

export interface BaseSpec {
  readonly key: string;
  readonly dir: string;
  /** The base package set (sorted): the distro's base and init packages. */
  readonly packages: readonly string[];
}

export function baseSpec(o: BootstrapOptions, state: string): BaseSpec {
  const extras = new Set(o.extraPackages ?? []);
  const packages = [...new Set(o.packages.filter((p) => !extras.has(p)))].sort();
  const key = hashValue({ recipe: RECIPE, distro: o.distro.name, release: o.release, arch: o.distroArch, mirror: o.mirror, repos: o.repos, packages, slim: o.slim, state });
  return { key, packages, dir: join(o.cacheDir, 'base', `${o.distro.name}-${o.release}-${o.distroArch}-${key.slice(0, 16)}`) };
}

/** Build the base into the cache unless it is there (complete); returns its rootfs path. */
export async function ensureBase(ctx: BuildContext, spec: BaseSpec, bootstrap: (target: string) => Promise<void>): Promise<string> {
  const dir = await ensureCachedTree(ctx, spec, 'base tree', (tmp) => bootstrap(join(tmp, 'rootfs')), KEEP);
  return join(dir, 'rootfs');
}

/**
 * The chroot step, as one argv: a private mount namespace with /proc, /sys and /dev, the package
 * cache bound at /var/cache/apt/archives, the host's resolv.conf for the downloads, then apt-get
 * install. `at`: the tree's mount points as host paths (resolved inside the tree, lib/in-tree.ts).
 */
export function installExtrasArgv(root: string, debCache: string, packages: readonly string[], update = false, at: MountPoints = mountPoints(root)): string[] {
  const script = [
    'set -eu',
    'root=$1; cache=$2; proc=$3; sys=$4; dev=$5; archives=$6; resolv=$7; shift 7',
    'mount -t proc proc "$proc"',
    'mount -t sysfs sysfs "$sys"',
    'mount --rbind /dev "$dev"',
    'mount --bind "$cache" "$archives"',
    '[ -z "$resolv" ] || mount --bind /etc/resolv.conf "$resolv"',
    ...(update ? ['chroot "$root" apt-get update -o APT::Sandbox::User=root'] : []),
    'DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install --yes --no-install-recommends -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 "$@"',
  ].join('\n');
  return ['unshare', '--mount', '--propagation', 'private', '--fork', '--', 'sh', '-c', script, 'osb-install-extras', root, debCache, at.proc, at.sys, at.dev, at.archives, at.resolv, ...packages];
}

interface MountPoints {
  readonly proc: string;
  readonly sys: string;
  readonly dev: string;
  readonly archives: string;
  readonly resolv: string;
}

/** The mount points as plain joins (a tree osb bootstrapped, or the dry-run's plan). */
const mountPoints = (root: string): MountPoints => ({ proc: join(root, 'proc'), sys: join(root, 'sys'), dev: join(root, 'dev'), archives: join(root, 'var/cache/apt/archives'), resolv: join(root, 'etc/resolv.conf') });

/**
 * apt-get install of `packages` in a chroot of `root` (installExtrasArgv), with services kept from
 * starting: a policy-rc.d written for the run, and whatever the tree had at that name put back
 * after. Every host-side path is resolved inside the tree, which may be a parent image: its links
 * are the guest's, never a way onto the host.
 */
export async function installExtras(ctx: BuildContext, root: string, debCache: string, packages: readonly string[], update: boolean, hint: string): Promise<void> {
  if (ctx.dryRun) {
    await ctx.run(installExtrasArgv(root, debCache, packages, update), { hint });
    return;
  }
  const at: MountPoints = {
    proc: await dirInTree(root, '/proc'),
    sys: await dirInTree(root, '/sys'),
    dev: await dirInTree(root, '/dev'),
    archives: await dirInTree(root, '/var/cache/apt/archives'),
    // The host's resolver over the tree's resolv.conf, wherever its link leads inside the tree; none without one.
    resolv: fileInTree(root, '/etc/resolv.conf') ?? '',
  };
  const policy = await freshInTree(root, `/usr/sbin/policy-rc.d.osb-new-${process.pid}`);
  const target = await inTree(root, '/usr/sbin/policy-rc.d');
  const had = await lstat(target).catch(() => undefined);
  const aside = `${target}.osb-aside-${process.pid}`;
  await writeFileMode(policy, '#!/bin/sh\nexit 101\n', 0o755);
  if (had) await rename(target, aside);
  await rename(policy, target);
  try {
    await ctx.run(installExtrasArgv(root, debCache, packages, update, at), { hint });
  } finally {
    await rm(target, { force: true });
    if (had) await rename(aside, target);
  }
}

/**
 * What every tree gets after the packages, base-only or not: no package lists (they are the
 * archive's, not the guest's), no apt binary caches or build logs.
 */
export async function finishTree(root: string): Promise<void> {
  const lists = await inTree(root, '/var/lib/apt/lists/.');
  if (existsSync(lists)) for (const n of await readdir(lists)) if (n !== 'partial' && n !== 'lock') await rm(join(lists, n), { recursive: true, force: true });
  for (const f of ['var/cache/apt/pkgcache.bin', 'var/cache/apt/srcpkgcache.bin', 'var/log/apt/history.log', 'var/log/apt/term.log', 'var/log/apt/eipp.log.xz', 'var/log/dpkg.log', 'var/log/alternatives.log']) {
    await rm(await inTree(root, `/${f}`), { force: true });
  }
}
