/**
 * The zypper engine (openSUSE): Debian's zypper with --root. Trust comes only from keys osb pins
 * with `rpm --root R --import` before the first refresh; never --gpg-auto-import-keys, which
 * trusts whatever key a repository serves (a probe here installed an attacker's packages with it).
 * zypper's configuration, log (else /var/log/zypper.log on the host) and lock file live in a
 * tool-owned directory; `--download-in-advance` verifies every package before the first is installed.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BuildContext } from '../../../lib/context.js';
import { mkdirMode } from '../../../lib/modes.js';
import { OsbError } from '../../../lib/errors.js';
import type { BootstrapOptions } from '../types.js';
import { cleanTree, refuseHostLinks, emptyResolvConf, installFailed, makeDevNodes, rpmEnv, showEnv, rpmOf, trustedKeys, workDirFor, writeRpmMacros } from './common.js';
import { rpmEngine } from './engine.js';
import { convertRpmdb } from './rpmdb.js';
import { existingRpmdb, repoSections, type RepoSection } from './dnf.js';
import { removeSocketDirs, watchHomes } from './gpg-sockets.js';

export function zyppConf(slim = true): string {
  return [
    '[main]',
    'gpgcheck = on',
    'repo_gpgcheck = on',
    'pkg_gpgcheck = on',
    `rpm.install.excludedocs = ${slim ? 'yes' : 'no'}`,
    'solver.onlyRequires = true',
    'download.use_deltarpm = false',
    // Metadata is checked on every build (a reused cache must not serve a stale, unverified copy).
    'repo.refresh.delay = 0',
    '',
  ].join('\n');
}

export function zypperRepoFile(r: RepoSection): string {
  const check = r.gpgcheck ? 1 : 0;
  return [`[${r.id}]`, `name=${r.id}`, 'enabled=1', 'autorefresh=1', `baseurl=${r.baseurl}`, 'type=rpm-md', `gpgcheck=${check}`, `repo_gpgcheck=${check}`, `pkg_gpgcheck=${check}`, ...(r.priority !== undefined ? [`priority=${r.priority}`] : []), 'keeppackages=1', ''].join('\n');
}

/** zypper's global options: osb's repos.d, cache, config and releasever; the tree as root. */
export function zypperGlobals(o: BootstrapOptions, work: string, cache: string): string[] {
  return ['zypper', '--non-interactive', '--root', o.target, '--reposd-dir', join(work, 'repos.d'), '--cache-dir', cache, '--config', join(work, 'zypper.conf'), '--releasever', rpmOf(o).releasever(o.release)];
}

export function zypperInstallArgv(o: BootstrapOptions, work: string, cache: string): string[] {
  return [
    ...zypperGlobals(o, work, cache),
    '--no-refresh',
    'install',
    '--no-recommends',
    '--download-in-advance',
    ...[...new Set(o.packages)].sort(),
    // A pattern is the patterns-* package that provides `pattern() = NAME` (Debian's libzypp makes no
    // pattern: pseudo-packages from rpm-md, so the capability is asked for directly).
    ...(o.packageGroups ?? []).map((g) => `pattern() = ${g}`),
  ];
}

/** One clear sentence for zypper's refusals. */
export function zypperRefusal(out: string): string | undefined {
  const pkg = /^(\S+) \([^)]*\): Signature verification failed \[(\d+)-([^\]]+)\]/m.exec(out);
  if (pkg) {
    const why = { '6': 'is not signed', '4': 'is signed by a key osb does not trust', '2': 'does not verify (altered or damaged)' }[pkg[2]!] ?? `fails its signature check (${pkg[3]})`;
    return `${pkg[1]} ${why}: refused`;
  }
  const repo = /(?:Skipping repository|Repository) '([^']+)'/.exec(out)?.[1] ?? '?';
  if (/modified after it has been signed/.test(out)) return `the repomd.xml of repository '${repo}' was changed after it was signed: refused`;
  if (/Signature verification failed for (?:file ')?repomd\.xml/.test(out)) return `the repomd.xml of repository '${repo}' is not signed by a key osb trusts: refused`;
  const missing = /No provider of '([^']+)' found/.exec(out);
  if (missing) return `no package or pattern '${missing[1]}' in the repositories`;
  return undefined;
}

/**
 * libzypp writes its @System solv cache under ROOT/<--cache-dir>: remove it, then each parent the
 * tree's packages do not own once it is empty (ROOT/tmp stays when a package owns /tmp).
 */
async function removeStrayCache(ctx: BuildContext, root: string, cache: string, env: Record<string, string>, dbpath: string): Promise<void> {
  let dir = join(root, cache);
  await rm(dir, { recursive: true, force: true });
  for (dir = dirname(dir); dir.startsWith(root + '/'); dir = dirname(dir)) {
    if (!existsSync(dir) || (await readdir(dir)).length) return;
    const owned = await ctx.run(['rpm', '--root', root, '--dbpath', dbpath, '-qf', dir.slice(root.length)], { env, allowFail: true, quiet: true });
    if (owned.exitCode === 0) return;
    await rmdir(dir);
  }
}

async function bootstrapZypper(ctx: BuildContext, o: BootstrapOptions): Promise<void> {
  await runZypper(ctx, o, true);
}

/** zypper into a fresh tree (the bootstrap) or an existing one (a parent, its rpm database where it has it). */
async function runZypper(ctx: BuildContext, o: BootstrapOptions, fresh: boolean): Promise<void> {
  const rpm = rpmOf(o);
  const db = fresh ? rpm.rpmdb(o.release) : existingRpmdb(o.target, rpm.rpmdb(o.release));
  const work = workDirFor(o, 'zypper');
  const sections = await repoSections(o);
  const keys = [...new Set([...(await trustedKeys(o)), ...sections.flatMap((s) => s.keys)])];
  const cache = join(o.cacheDir, 'zypp', `${o.distro.name}-${o.release}-${o.distroArch}`);
  // Its log would go to /var/log/zypper.log on the host, and its lock file into the tree.
  // Its temporary keyrings would go to the host's /var/tmp (ZYPPTMPDIR moves them into osb's directory).
  const env = rpmEnv(work, { ZYPP_CONF: join(work, 'zypp.conf'), ZYPP_LOGFILE: join(work, 'zypper.log'), ZYPP_LOCKFILE_ROOT: work, ZYPPTMPDIR: join(work, 'tmp'), ...(o.proxy ? { http_proxy: o.proxy, https_proxy: o.proxy } : {}) });
  const importArgv = ['rpm', '--root', o.target, '--dbpath', db.path, '--import', ...keys];
  const refreshArgv = [...zypperGlobals(o, work, cache), 'refresh', '--force'];
  const installArgv = zypperInstallArgv(o, work, cache);
  const installs = o.packages.length || o.packageGroups?.length ? [installArgv] : [];
  // image-build's remove_packages, with the dependencies only they needed; zypper has no modules.
  const removeArgv = o.removePackages?.length ? [[...zypperGlobals(o, work, cache), '--no-refresh', 'remove', '--clean-deps', ...o.removePackages]] : [];
  if (o.modules?.length) throw new OsbError('modules are dnf module streams; zypper has none', 'remove modules from the config (openSUSE ships one version of each package)');
  if (ctx.dryRun) {
    ctx.log.info(`would write ${join(work, 'zypp.conf')} (gpgcheck, repo_gpgcheck, pkg_gpgcheck on) and ${join(work, 'repos.d')}: ${sections.map((s) => `${s.id}=${s.baseurl}`).join(' ')}`);
    showEnv(ctx, env);
    for (const argv of [...(keys.length ? [importArgv] : []), refreshArgv, ...installs, ...removeArgv]) await ctx.run(argv);
    return;
  }
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'repos.d'), { recursive: true });
  await writeFile(join(work, 'zypp.conf'), zyppConf(o.slim !== false));
  await writeFile(join(work, 'zypper.conf'), '[main]\n');
  for (const s of sections) await writeFile(join(work, 'repos.d', `${s.id}.repo`), zypperRepoFile(s));
  await writeRpmMacros(work, db.path, o.slim !== false);
  if (fresh) {
    await mkdirMode(o.target, 0o755);
    await makeDevNodes(ctx, o.target);
  } else await refuseHostLinks(o.target, 'zypper', ['/var/cache/zypp', '/var/lib/zypp', '/var/log', '/etc/zypp', '/var/lib/rpm', '/usr/lib/sysimage/rpm']);
  await mkdir(cache, { recursive: true });
  await mkdir(join(work, 'tmp'), { recursive: true });
  const homes = watchHomes(join(work, 'tmp'), true);
  ctx.log.info(`${fresh ? `installing ${o.distro.name} ${o.release} (${o.distroArch})` : `installing ${o.packages.join(' ')} on the parent`} with zypper from ${sections.map((s) => s.baseurl).join(' ')}`);
  try {
    // The trust anchor: osb's pinned keys go into the tree's rpm database before anything is fetched.
    if (keys.length) await ctx.run(importArgv, { env });
    for (const argv of [refreshArgv, ...installs, ...removeArgv]) {
      const r = await ctx.run(argv, { env, allowFail: true });
      if (r.exitCode !== 0) throw installFailed(ctx, o, argv, r, zypperRefusal(`${r.stdout}\n${r.stderr}`));
    }
    await removeStrayCache(ctx, o.target, cache, env, db.path);
    await convertRpmdb(ctx, o.target, work, db);
  } finally {
    const seen = await homes.stop();
    await rm(work, { recursive: true, force: true });
    await removeSocketDirs(seen, []);
  }
  const keepState = existsSync(join(o.target, 'usr/bin/zypper'));
  await cleanTree(o.target, ['var/cache/zypp', 'var/log/zypp', 'var/log/zypper.log', 'run/zypp.pid', 'var/run/zypp.pid', ...(keepState ? [] : ['var/lib/zypp'])]);
  await emptyResolvConf(o.target);
}

export const zypperEngine = rpmEngine('zypper', bootstrapZypper, (ctx, o, packages) => runZypper(ctx, { ...o, packages }, false));
