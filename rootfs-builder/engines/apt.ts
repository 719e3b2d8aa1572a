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
import { builtinKeysRoot } from './apk/keys.js';
import type { BootstrapOptions, Engine, InstalledPackage } from './index.js';

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

/** The keyring that verifies the archive: the host's, else the copy osb ships (Ubuntu on Debian). */
export function archiveKeyring(o: Pick<AptBootstrapOptions, 'distro'>): string | undefined {
  const d = o.distro;
  if (!d.keyring || existsSync(d.keyring) || !d.shippedKeyring) return d.keyring;
  const shipped = join(builtinKeysRoot(), d.name, d.shippedKeyring);
  return existsSync(shipped) ? shipped : d.keyring;
}

/** The mmdebstrap command line for these options. */
export function mmdebstrapArgv(o: AptBootstrapOptions, mode: BootstrapMode, debCache: string): string[] {
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
    `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
    `--setup-hook=sync-in ${debCache} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${debCache}`,
    // Kata's rootfs.sh leaves an empty resolv.conf; the runtime provides DNS.
    `--customize-hook=rm -f "$1"/etc/resolv.conf; : > "$1"/etc/resolv.conf`,
  ];
  if (keyring) argv.push(`--keyring=${keyring}`);
  if (o.packages.length) argv.push(`--include=${[...o.packages].sort().join(',')}`);
  argv.push(o.release, o.target, o.mirror);
  return argv;
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
    ctx.log.info(`bootstrapping ${o.distro.name} ${o.release} (${o.distroArch}) with mmdebstrap`);
    await ctx.run(mmdebstrapArgv(o, chooseMode(), debCache), { hint: `see the log; check that ${o.mirror} is reachable and has ${o.release}` });
    return;
  }
  if (!isRoot()) throw new OsbError('mmdebstrap is not installed and debootstrap needs root', 'apt-get install mmdebstrap, or run osb as root');
  ctx.log.info(`bootstrapping ${o.distro.name} ${o.release} with debootstrap (mmdebstrap not found; it is faster)`);
  await ctx.run(debootstrapArgv(o, debCache), { hint: `see the log; check that ${o.mirror} is reachable and has ${o.release}` });
}

/** Installed packages and versions, read from the rootfs's dpkg database. */
async function listAptPackages(ctx: BuildContext, rootfs: string): Promise<InstalledPackage[]> {
  const r = await ctx.run(['dpkg-query', `--admindir=${join(rootfs, 'var/lib/dpkg')}`, '-W', '-f', '${Package}\\t${Version}\\t${Architecture}\\n'], { quiet: true, readOnly: true });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, version, arch] = l.split('\t');
      return { name: name!, version: version!, arch: arch! };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const aptEngine: Engine = { preflight, bootstrap: bootstrapApt, listPackages: listAptPackages };
