/**
 * The dnf engine: Debian's own dnf 4 with --installroot, osb's own dnf.conf and .repo files (never
 * the host's /etc/dnf/dnf.conf, whose skip_if_unavailable=True turns a bad signature into
 * "ignoring repository"), gpgcheck and repo_gpgcheck on with the keys pinned by file.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostArch } from '../../../distros/index.js';
import type { BuildContext } from '../../../lib/context.js';
import { inTree } from '../../../lib/in-tree.js';
import { mkdirMode } from '../../../lib/modes.js';
import type { BootstrapOptions } from '../types.js';
import { OsbError } from '../../../lib/errors.js';
import { cacheIn, cleanTree, refuseHostLinks, emptyResolvConf, extraRepos, installFailed, makeDevNodes, refusalReason, rpmEnv, rpmOf, showEnv, stopGpgAgents, trustedKeys, workDirFor, writeRpmMacros } from './common.js';
import { rpmEngine } from './engine.js';
import { removeSocketDirs, watchHomes } from './gpg-sockets.js';

export interface RepoSection {
  readonly id: string;
  readonly baseurl?: string;
  readonly metalink?: string;
  readonly keys: readonly string[];
  readonly gpgcheck: boolean;
  readonly repoGpgcheck: boolean;
  readonly priority?: number;
}

/** The repositories of a build: the distro's (or --mirror's) and the extra ones with their own key. */
export async function repoSections(o: BootstrapOptions): Promise<RepoSection[]> {
  const rpm = rpmOf(o);
  const keys = await trustedKeys(o);
  const signed = !rpm.unsigned;
  const distroRepos = o.distroRepos === false ? [] : rpm.repositories(o.customMirror ? o.mirror : undefined, o.release, o.distroArch).map((r) => ({
    ...r,
    keys,
    gpgcheck: signed,
    // A metalink carries repomd.xml's checksums over HTTPS; a plain base URL must serve a signed repomd.xml.
    repoGpgcheck: signed && (rpm.signedMetadata || !r.metalink),
  }));
  const extra = (await extraRepos(o)).map((r) => ({ id: r.id, baseurl: r.url, keys: r.keys, gpgcheck: r.gpgcheck, repoGpgcheck: r.gpgcheck, priority: r.priority }));
  const all = [...distroRepos, ...extra];
  if (!all.length) throw new OsbError('no repositories to install from: --no-distro-repos and no repos given', "list the repositories (osb.yaml or image-build repos), or drop --no-distro-repos");
  return all;
}

export function dnfConf(slim = true): string {
  return [
    '[main]',
    'gpgcheck=1',
    'repo_gpgcheck=1',
    'localpkg_gpgcheck=1',
    // A repository that fails (bad signature, unreachable) fails the build.
    'skip_if_unavailable=0',
    'plugins=0',
    'install_weak_deps=0',
    'keepcache=1',
    // Slim (the default): no documentation unpacked; --no-slim keeps it.
    ...(slim ? ['tsflags=nodocs'] : []),
    'best=1',
    'check_config_file_age=0',
    '',
  ].join('\n');
}

export function repoFile(sections: readonly RepoSection[]): string {
  return sections
    .map((r) =>
      [
        `[${r.id}]`,
        `name=${r.id}`,
        r.metalink ? `metalink=${r.metalink}` : `baseurl=${r.baseurl}`,
        'enabled=1',
        `gpgcheck=${r.gpgcheck ? 1 : 0}`,
        `repo_gpgcheck=${r.repoGpgcheck ? 1 : 0}`,
        ...(r.keys.length ? [`gpgkey=${r.keys.map((k) => `file://${k}`).join(' ')}`] : []),
        'skip_if_unavailable=0',
        // Each build re-checks repomd.xml (and its signature); unchanged metadata comes from the cache.
        'metadata_expire=0',
        '',
      ].join('\n'),
    )
    .join('\n');
}

export function dnfArgv(o: BootstrapOptions, work: string): string[] {
  const rpm = rpmOf(o);
  return [
    'dnf',
    '--assumeyes',
    `--config=${join(work, 'dnf.conf')}`,
    `--installroot=${o.target}`,
    `--releasever=${rpm.releasever(o.release)}`,
    `--setopt=reposdir=${join(work, 'repos.d')}`,
    `--setopt=varsdir=${join(work, 'vars')}`,
    '--noplugins',
    '--setopt=install_weak_deps=False',
    ...(o.slim === false ? [] : ['--nodocs']),
    '--best',
    ...(o.arch !== hostArch() ? [`--forcearch=${o.distroArch}`] : []),
    ...(o.proxy ? [`--setopt=proxy=${o.proxy}`] : []),
    'install',
    ...[...new Set(o.packages)].sort(),
    ...(o.packageGroups ?? []).map((g) => `@${g}`),
  ];
}

/** dnf with the same configuration, for another subcommand (module, remove): everything before `install`. */
export function dnfWith(o: BootstrapOptions, work: string, ...subcommand: string[]): string[] {
  const argv = dnfArgv(o, work);
  return [...argv.slice(0, argv.indexOf('install')), ...subcommand];
}

/** image-build's modules (before the packages) and remove_packages (after them), as dnf commands. */
export function dnfSteps(o: BootstrapOptions, work: string): { before: string[][]; after: string[][] } {
  return {
    before: (o.modules ?? []).map((m) => dnfWith(o, work, 'module', m.command, ...m.specs)),
    // dnf's clean_requirements_on_remove (on by default) takes the dependencies only they needed.
    after: o.removePackages?.length ? [dnfWith(o, work, '--setopt=clean_requirements_on_remove=True', 'remove', ...o.removePackages)] : [],
  };
}

/** What dnf opens under --installroot from the host (its cache, state, logs, configuration, the rpm database). */
const DNF_HOST_PATHS = ['/var/cache/dnf', '/var/lib/dnf', '/var/log', '/etc/dnf', '/var/lib/rpm', '/usr/lib/sysimage/rpm'];

/**
 * dnf into the tree: a fresh one (the bootstrap) or an existing one (a parent image unpacked, whose
 * rpm database is used where the parent has it).
 */
async function runDnf(ctx: BuildContext, o: BootstrapOptions, fresh: boolean): Promise<void> {
  const rpm = rpmOf(o);
  const db = fresh ? rpm.rpmdb(o.release) : existingRpmdb(o.target, rpm.rpmdb(o.release));
  const work = workDirFor(o, 'dnf');
  const sections = await repoSections(o);
  const argv = dnfArgv(o, work);
  const cache = join(o.cacheDir, 'dnf', `${o.distro.name}-${o.release}-${o.distroArch}`);
  if (ctx.dryRun) {
    ctx.log.info(`would write ${join(work, 'dnf.conf')} (gpgcheck=1, repo_gpgcheck=1, skip_if_unavailable=0) and ${join(work, 'repos.d/osb.repo')}:`);
    for (const line of repoFile(sections).split('\n').filter(Boolean)) ctx.log.info(`  ${line}`);
    ctx.log.info(`would set %_dbpath ${db.path} in ${join(work, 'home/.rpmmacros')} and use the package cache ${cache}`);
    showEnv(ctx, rpmEnv(work));
    const steps = dnfSteps(o, work);
    for (const a of [...steps.before, ...installs(o, argv), ...steps.after]) await ctx.run(a);
    return;
  }
  if (fresh) await mkdirMode(o.target, 0o755);
  else await refuseHostLinks(o.target, 'dnf', DNF_HOST_PATHS);
  // The device nodes (a cp process) go in while dnf's configuration is written.
  const devNodes = fresh ? makeDevNodes(ctx, o.target) : Promise.resolve();
  devNodes.catch(() => undefined); // awaited below
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'repos.d'), { recursive: true });
  await mkdir(join(work, 'vars'), { recursive: true });
  await writeFile(join(work, 'dnf.conf'), dnfConf(o.slim !== false));
  await writeFile(join(work, 'repos.d', 'osb.repo'), repoFile(sections));
  await writeRpmMacros(work, db.path, o.slim !== false);
  await devNodes;
  const cacheInTree = join(o.target, 'var/cache/dnf');
  const cacheBack = await cacheIn(ctx, cache, cacheInTree);
  ctx.log.info(`${fresh ? `installing ${o.distro.name} ${o.release} (${o.distroArch})` : `installing ${o.packages.join(' ')} on the parent`} with dnf from ${sections.map((s) => s.baseurl ?? s.metalink).join(' ')}`);
  const homes = watchHomes(process.env.TMPDIR ?? '/tmp');
  try {
    const steps = dnfSteps(o, work);
    for (const a of [...steps.before, ...installs(o, argv), ...steps.after]) {
      const r = await ctx.run(a, { env: rpmEnv(work), allowFail: true });
      if (r.exitCode !== 0) throw installFailed(ctx, o, a, r, refusalReason(`${r.stdout}\n${r.stderr}`));
    }
  } finally {
    const stopped = await stopGpgAgents(ctx, cacheInTree, rpmEnv(work));
    await removeSocketDirs(await homes.stop(), stopped);
    await cacheBack?.();
    await rm(work, { recursive: true, force: true });
  }
  // dnf's own state stays only where the guest has dnf to read it.
  const keepState = ['usr/bin/dnf', 'usr/bin/dnf-3', 'usr/bin/dnf5', 'usr/bin/tdnf'].some((p) => existsSyncIn(o.target, p));
  await cleanTree(o.target, ['var/cache/dnf', 'var/log/dnf.log', 'var/log/dnf.librepo.log', 'var/log/dnf.rpm.log', 'var/log/hawkey.log', ...(keepState ? [] : ['var/lib/dnf'])]);
  // dnf makes an empty etc/dnf/modules.d in the root; a package that ships files there keeps it.
  for (const d of ['etc/dnf/modules.d', 'etc/dnf']) await rmdir(await inTree(o.target, `/${d}`)).catch(() => undefined);
  await emptyResolvConf(o.target);
}


/** The install command, unless there is nothing to install (a parent with only removals). */
const installs = (o: BootstrapOptions, argv: string[]): string[][] => (o.packages.length || o.packageGroups?.length ? [argv] : []);

async function bootstrapDnf(ctx: BuildContext, o: BootstrapOptions): Promise<void> {
  await runDnf(ctx, o, true);
}

/** Where a parent tree keeps its rpm database (Rocky 9: /var/lib/rpm, Fedora: /usr/lib/sysimage/rpm), else the distro's. */
export function existingRpmdb<T extends { path: string }>(root: string, fallback: T): T {
  for (const path of ['/usr/lib/sysimage/rpm', '/var/lib/rpm']) {
    if (existsSync(join(root, path, 'rpmdb.sqlite'))) return { ...fallback, path };
  }
  return fallback;
}

const existsSyncIn = (root: string, p: string): boolean => existsSync(join(root, p));

export const dnfEngine = rpmEngine('dnf', bootstrapDnf, (ctx, o, packages) => runDnf(ctx, { ...o, packages }, false));
