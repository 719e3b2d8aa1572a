/**
 * The apk engine: osb installs Alpine packages itself, as apko does, because a Debian host has
 * no apk: signed indexes (index-fetch.ts), the resolver (resolve.ts), the package chain of trust
 * (package.ts), safe extraction (extract.ts), package scripts in a chroot (scripts.ts) and a
 * database that the guest's own apk reads afterwards (database.ts).
 */
import { mkdir, chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { hostArch } from '../../../distros/index.js';
import type { BuildContext } from '../../../lib/context.js';
import { OsbError } from '../../../lib/errors.js';
import { isRoot, which } from '../../../lib/host.js';
import { mkdirMode, writeFileMode } from '../../../lib/modes.js';
import { foreignArchTools, type BootstrapOptions, type Engine, type InstalledPackage } from '../types.js';
import { readInstalled, writeDatabase, type InstalledRecord } from './database.js';
import { parseDep } from './deps.js';
import { extractPackage, type FileOwners } from './extract.js';
import { fetchIndexes, indexUrl, repositories } from './index-fetch.js';
import { loadTrustedKeys } from './keys.js';
import { fetchPackage } from './package.js';
import { resolve } from './resolve.js';
import { runScript, runTriggers } from './scripts.js';
import { byCodePoint } from '../../../lib/order.js';

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

async function preflight(ctx: BuildContext, o: BootstrapOptions): Promise<void> {
  // Without --agent-init the agent needs an init system to start it; osb's apk distros have no systemd.
  if (!o.agentInit) {
    throw new OsbError(
      `${o.distro.name} rootfs needs --agent-init (AGENT_INIT=yes): ${capitalized(o.distro.name)} has no systemd`,
      `osb installs the agent as /sbin/init in ${capitalized(o.distro.name)}: add --agent-init`,
    );
  }
  for (const p of o.packages) parseDep(p, 'the package list (EXTRA_PKGS)');
  if (ctx.dryRun) return;
  if (!isRoot()) {
    throw new OsbError(
      `${o.distro.name} rootfs builds need root: package scripts run in a chroot and files keep their owners`,
      'run osb as root (e.g. sudo -E npx osb rootfs ...)',
    );
  }
  if (!which('chroot')) throw new OsbError('chroot is not installed', 'apt-get install coreutils');
  if (o.arch !== hostArch()) {
    // validateRootfsOptions has checked the binfmt_misc handler (with F, so it works in the chroot).
    ctx.log.info(`${o.distroArch} package scripts run in the chroot through qemu-${o.arch} (binfmt_misc)`);
  }
  await loadTrustedKeys(o.distro.name, o.distroArch, o.keysDir, o.repos.flatMap((r) => (r.key ? [r.key] : []))); // a bad key fails now
}

async function bootstrapApk(ctx: BuildContext, o: BootstrapOptions): Promise<void> {
  const repos = [...repositories(o.mirror, o.release, o.distro.components), ...o.repos.map((r) => ({ name: r.url, url: r.url.replace(/\/+$/, '') }))];
  const keyFiles = o.repos.flatMap((r) => (r.key ? [r.key] : []));
  const world = [...new Set(o.packages)].sort();
  if (ctx.dryRun) {
    for (const r of repos) ctx.log.info(`would fetch and verify ${indexUrl(r, o.distroArch)}`);
    ctx.log.info(`would resolve ${world.join(' ')}, download and verify the packages into ${join(o.cacheDir, 'apk')}, install them into ${o.target} and run their scripts in a chroot`);
    return;
  }
  const trusted = await loadTrustedKeys(o.distro.name, o.distroArch, o.keysDir, keyFiles);
  ctx.log.info(`fetching ${o.distro.name} ${o.release} indexes (${o.distroArch}) from ${o.mirror}`);
  const available = await fetchIndexes(ctx, repos, o.distroArch, trusted);
  const { packages } = resolve(available, world.map((p) => parseDep(p, 'the package list (EXTRA_PKGS)')));
  ctx.log.info(`resolved ${packages.length} packages: ${packages.map((p) => `${p.name}-${p.version}`).join(' ')}`);
  // Everything is downloaded and verified before the first byte lands in the tree.
  for (const pkg of packages) await fetchPackage(ctx, pkg, o.distroArch, o.cacheDir);

  await mkdir(o.target, { recursive: true });
  await chmod(o.target, 0o755);
  const owners: FileOwners = new Map();
  const records: InstalledRecord[] = [];
  const touched = new Set<string>();
  for (const [i, pkg] of packages.entries()) {
    ctx.log.info(`(${i + 1}/${packages.length}) Installing ${pkg.name} (${pkg.version})`);
    const p = await fetchPackage(ctx, pkg, o.distroArch, o.cacheDir); // from the cache, verified again
    const pre = p.scripts.get('pre-install');
    if (pre) await runScript(ctx, o.target, pkg, 'pre-install', pre, [pkg.version]);
    const dirs = await extractPackage(ctx, o.target, p, owners);
    for (const d of dirs) touched.add(`/${d.name}`);
    const post = p.scripts.get('post-install');
    if (post) await runScript(ctx, o.target, pkg, 'post-install', post, [pkg.version]);
    records.push({
      pkg,
      replaces: (p.info.get('replaces') ?? []).flatMap((r) => r.split(/\s+/)).filter(Boolean).map((r) => parseDep(r, `${pkg.name} .PKGINFO replaces`)),
      replacesPriority: Number(p.info.get('replaces_priority')?.[0] ?? 0),
      dirs,
      scripts: p.scripts,
      triggers: (p.info.get('triggers') ?? []).flatMap((t) => t.split(/\s+/)).filter(Boolean),
    });
  }
  await runTriggers(ctx, o.target, records.map((r) => ({ pkg: r.pkg, globs: r.triggers, script: r.scripts.get('trigger') })), touched);
  await writeDatabase({
    root: o.target,
    records,
    world,
    arch: o.distroArch,
    repositoryUrls: repos.map((r) => r.url),
    keys: [...trusted.values()],
    sourceDateEpoch: ctx.sourceDateEpoch,
  });
  // Kata's rootfs.sh leaves an empty resolv.conf; the runtime provides DNS.
  await mkdirMode(join(o.target, 'etc'), 0o755);
  await rm(join(o.target, 'etc/resolv.conf'), { force: true });
  await writeFileMode(join(o.target, 'etc/resolv.conf'), '', 0o644);
}

/** Installed packages, read back from the tree's lib/apk/db/installed. */
async function listApkPackages(_ctx: BuildContext, rootfs: string): Promise<InstalledPackage[]> {
  return (await readInstalled(rootfs)).map((e) => ({ name: e.pkg.name, version: e.pkg.version, arch: e.pkg.arch })).sort((a, b) => byCodePoint(a.name, b.name));
}

export const apkEngine: Engine = {
  preflight,
  bootstrap: bootstrapApk,
  listPackages: listApkPackages,
  // osb installs the packages itself; only their scripts need a tool, chroot.
  hostTools: ({ arch, foreign }) => ['chroot', ...(foreign ? foreignArchTools(arch) : [])],
  needsRoot: 'package scripts in a chroot',
};
