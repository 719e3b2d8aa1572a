/**
 * What the dnf and zypper engines share: the checks before any download, the keys osb pins, a
 * scrubbed environment whose rpm macros put the database where the target's rpm reads it, the
 * package cache moved into the tree and back out, the clean-up of the tools' leftovers, the
 * empty resolv.conf both leave, and the one error a failed install ends in.
 * Facts behind each line: ../shared/RPM-NOTES.md (a probe of Debian 12's dnf 4, zypper and rpm).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { hostArch } from '../../../distros/index.js';
import type { RpmDistro } from '../../../distros/types.js';
import type { BuildContext } from '../../../lib/context.js';
import type { RunResult } from '../../../lib/run.js';
import { InternalError, OsbError, shellQuote } from '../../../lib/errors.js';
import { onCleanup } from '../../../lib/cleanup.js';
import { isRoot, which } from '../../../lib/host.js';
import { freshInTree, inTree, leavesTreeOnHost } from '../../../lib/in-tree.js';
import { mkdirMode, writeFileMode } from '../../../lib/modes.js';
import { missingToolMessage } from '../../../lib/tools.js';
import { builtinKeysRoot } from '../apk/keys.js';
import type { BootstrapOptions } from '../types.js';

export function rpmOf(o: BootstrapOptions): RpmDistro {
  if (!o.distro.rpm) throw new InternalError(`${o.distro.name} has engine ${o.distro.engine} but no rpm settings`);
  return o.distro.rpm;
}

const ARMORED = '-----BEGIN PGP PUBLIC KEY BLOCK-----';

async function checkKeyFile(path: string, what: string, hint: string): Promise<string> {
  let text: string;
  try {
    if (!(await stat(path)).isFile()) throw new Error('not a file');
    text = await readFile(path, 'utf8');
  } catch {
    throw new OsbError(`${what} ${path} does not exist or is not a file`, hint);
  }
  if (!text.includes(ARMORED)) throw new OsbError(`${what} ${path} is not an armored OpenPGP public key`, hint);
  return resolve(path);
}

/** The keys osb pins for this build: the distro's own for the release, then every key of --keys-dir. */
export async function trustedKeys(o: BootstrapOptions): Promise<string[]> {
  const rpm = rpmOf(o);
  const keys: string[] = [];
  for (const name of rpm.keys(o.release)) {
    keys.push(await checkKeyFile(join(builtinKeysRoot(), o.distro.name, name), `${o.distro.name}'s shipped key`, 'reinstall osb'));
  }
  if (o.keysDir) {
    const hint = 'pass a directory holding only armored OpenPGP public keys (RPM-GPG-KEY-* files)';
    let names: string[];
    try {
      names = (await readdir(o.keysDir)).filter((n) => !n.startsWith('.')).sort();
    } catch {
      throw new OsbError(`--keys-dir ${o.keysDir} does not exist or is not a directory`, hint);
    }
    for (const n of names) keys.push(await checkKeyFile(join(o.keysDir, n), '--keys-dir file', hint));
  }
  return keys;
}

/** Extra repositories, each with its key checked. */
export async function extraRepos(o: BootstrapOptions): Promise<Array<{ id: string; url: string; keys: string[]; gpgcheck: boolean; priority?: number }>> {
  const out = [];
  // A repository listed without its own key (image-build's repos often are) is checked against --keys-dir.
  const pinned = o.keysDir ? await trustedKeys({ ...o, distro: { ...o.distro, rpm: { ...rpmOf(o), keys: () => [] } } }) : [];
  for (const [i, r] of (o.repos ?? []).entries()) {
    if (!/^(https?|ftp|file):\/\//.test(r.url)) throw new OsbError(`extra repository '${r.url}' is not a URL`, 'give each repository as URL,KEYFILE (http://, https:// or file://)');
    const id = r.alias ?? `osb-extra-${i + 1}`;
    if (r.pendingKey) {
      out.push({ id, url: r.url, keys: [r.pendingKey], gpgcheck: true, priority: r.priority });
    } else if (r.key) {
      out.push({ id, url: r.url, keys: [await checkKeyFile(r.key, `the key of repository ${r.url}`, 'give each repository as URL,KEYFILE with an armored public key')], gpgcheck: true, priority: r.priority });
    } else if (pinned.length) {
      out.push({ id, url: r.url, keys: pinned, gpgcheck: true, priority: r.priority });
    } else if (o.allowUnsigned) {
      out.push({ id, url: r.url, keys: [], gpgcheck: false, priority: r.priority });
    } else {
      // gpgcheck is never off unasked: an rpm-md repository without a key that signs it is refused.
      throw new OsbError(`extra repository ${r.url} has no signing key`, 'give its armored public key (osb.yaml repos: key, image-build repos: gpg, --repo URL,KEYFILE, or --keys-dir DIR), or pass --allow-unsigned to install without signature checks');
    }
  }
  return out;
}

/** Checks before any download: release support, trust, root, the tools. */
export async function rpmPreflight(ctx: BuildContext, o: BootstrapOptions, tools: readonly string[]): Promise<void> {
  const rpm = rpmOf(o);
  // dnf refuses to run unprivileged; zypper "works" through rpm's experimental user namespace with
  // every file owned by the user. Either way, say so before anything is read or fetched.
  if (!ctx.dryRun && !isRoot()) {
    throw new OsbError(
      `${o.distro.name} rootfs builds need root: rpm runs package scriptlets chrooted into the tree, and files keep their owners`,
      'run osb as root (e.g. sudo -E npx osb rootfs ...)',
    );
  }
  const db = rpm.rpmdb(o.release);
  if (db.backend === 'bdb') {
    throw new OsbError(
      `${o.distro.name} ${o.release} keeps its rpm database in Berkeley DB, which the host's rpm cannot write (Debian's rpm 4.18 writes sqlite only)`,
      `build a release whose rpm reads sqlite: ${o.distro.releases.filter((r) => rpm.rpmdb(r).backend !== 'bdb').join(', ')}`,
    );
  }
  if (rpm.unsigned && !o.allowUnsigned) {
    throw new OsbError(
      `${o.distro.name}'s packages are not signed, so osb cannot verify them`,
      'add --allow-unsigned (OSB_ALLOW_UNSIGNED=yes) to install them unverified, or build a distro that signs its packages',
    );
  }
  if (o.allowUnsigned && !rpm.unsigned) ctx.log.warn(`--allow-unsigned is ignored for ${o.distro.name}: its packages are signed, and osb checks every one`);
  const keys = await trustedKeys(o);
  await extraRepos(o);
  if (!rpm.unsigned && keys.length === 0) throw new OsbError(`osb has no signing keys for ${o.distro.name} ${o.release}`, 'pass the repository public keys with --keys-dir DIR');
  if (ctx.dryRun) return;
  for (const t of tools) {
    if (!which(t, '/usr/sbin:/usr/bin:/sbin:/bin')) {
      const m = missingToolMessage(t);
      throw new OsbError(m.message, m.hint);
    }
  }
  if (o.arch !== hostArch()) ctx.log.warn(`${o.distroArch} scriptlets run chrooted on this ${hostArch()} host only through qemu-user binfmt (apt-get install qemu-user-static binfmt-support)`);
}

/** The tool-owned directory for configuration, rpm macros and logs: never the host's /etc. */
export function workDirFor(o: BootstrapOptions, tool: string): string {
  return join(tmpdir(), `osb-${tool}-${process.pid}`);
}

/**
 * The environment dnf, zypper and rpm run with: a fixed PATH (python3 must be Debian's, not a
 * shim), HOME whose .rpmmacros sets the target's %_dbpath (Debian's rpm defaults to ~/.rpmdb,
 * Debian bug #1004863) and %__gpg (Debian's points at the absent gpg2).
 */
export function rpmEnv(work: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: join(work, 'home'), KERNEL_INSTALL_BYPASS: '1', ...extra };
}

/** Slim (the default): rpm installs the C locale's translations only (%_install_langs). */
export async function writeRpmMacros(work: string, dbpath: string, slim = true): Promise<void> {
  await mkdir(join(work, 'home'), { recursive: true });
  await writeFile(join(work, 'home', '.rpmmacros'), `%_dbpath ${dbpath}\n%__gpg /usr/bin/gpg\n${slim ? '%_install_langs C:C.UTF-8\n' : ''}`);
}

/**
 * The device nodes real scriptlets expect (`>/dev/null` would otherwise create a regular file),
 * copied from the host's /dev as nodes (cp -a makes them with mknod): no bind mounts, nothing to
 * release, one process. The filesystem package owns /dev itself.
 */
export async function makeDevNodes(ctx: BuildContext, root: string): Promise<void> {
  await mkdirMode(join(root, 'dev'), 0o755);
  const missing = ['null', 'zero', 'full', 'random', 'urandom'].filter((n) => !existsSync(join(root, 'dev', n)));
  if (missing.length) await ctx.run(['cp', '-a', ...missing.map((n) => `/dev/${n}`), join(root, 'dev') + '/'], { quiet: true });
}

/** The environment line --dry-run shows before the command (the command runs with exactly this). */
export function showEnv(ctx: BuildContext, env: Record<string, string>): void {
  ctx.log.info(`would run with the environment ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} (plus LANG, LC_ALL, SOURCE_DATE_EPOCH)`);
}

/**
 * dnf checks repomd.xml signatures through gpgme, which starts a gpg-agent per repository with its
 * home in the cache (…/<repo>/pubring) and leaves it running: stop each one. Returns the homes.
 */
export async function stopGpgAgents(ctx: BuildContext, cacheRoot: string, env: Record<string, string>): Promise<string[]> {
  if (!existsSync(cacheRoot)) return [];
  const homes = (await readdir(cacheRoot)).map((d) => join(cacheRoot, d, 'pubring')).filter((h) => existsSync(h));
  await Promise.all(homes.map((h) => ctx.run(['gpgconf', '--homedir', h, '--kill', 'gpg-agent'], { env, quiet: true, allowFail: true })));
  return homes;
}

/**
 * Put the shared package cache where dnf looks for it in the tree (dnf re-roots its cachedir
 * there). A rename when both are on one filesystem; a bind mount when they are not (a tree on an
 * overlay, as a parent's child is); returns how to take it back out, or undefined when neither works.
 */
export async function cacheIn(ctx: BuildContext, cache: string, inTree: string): Promise<(() => Promise<void>) | undefined> {
  await mkdir(cache, { recursive: true });
  await mkdirMode(dirname(inTree), 0o755); // var/cache of the guest
  try {
    await rename(cache, inTree);
    return () => cacheOut(cache, inTree);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
  }
  if (isRoot()) {
    await mkdir(inTree, { recursive: true });
    if ((await ctx.run(['mount', '--bind', cache, inTree], { allowFail: true, quiet: true })).exitCode === 0) {
      const umount = async (): Promise<void> => {
        if ((await ctx.run(['umount', inTree], { allowFail: true, quiet: true })).exitCode !== 0) await ctx.run(['umount', '--lazy', inTree], { allowFail: true, quiet: true });
      };
      const release = onCleanup(umount);
      return async () => {
        release();
        await umount();
        await rmdir(inTree); // never rm -r: were it still mounted, that would empty the shared cache
      };
    }
  }
  ctx.log.warn(`the package cache ${cache} is on another filesystem than the rootfs: packages are downloaded again`);
  return undefined;
}

async function cacheOut(cache: string, inTree: string): Promise<void> {
  if (!existsSync(inTree)) return;
  await rm(cache, { recursive: true, force: true });
  await rename(inTree, cache);
}

/** The tools' logs, caches, history and pid files: not part of the guest. Resolved inside the tree (lib/in-tree.ts). */
export async function cleanTree(root: string, paths: readonly string[]): Promise<void> {
  for (const p of paths) await rm(await inTree(root, `/${p}`), { recursive: true, force: true });
}

/**
 * dnf and zypper run on the host with --installroot and open their cache, logs and database as
 * `root` + path, following the tree's links as the host would. On a parent (someone else's tree)
 * a link there that is absolute or climbs out would make them write on the host: refused first.
 * That holds for the directories and for everything in them (a log file, the rpm database's
 * files), so each directory is walked.
 */
export async function refuseHostLinks(root: string, tool: string, paths: readonly string[]): Promise<void> {
  const refuse = (why: string, p: string) => new OsbError(`refusing to run ${tool} on the parent: ${why}, and ${tool} would follow it to write ${p} outside the tree`, `make ${p.split('/').slice(0, 2).join('/')} a directory (or a relative link inside the tree) in the parent, or build without packages on it`);
  for (const p of paths) {
    const why = await leavesTreeOnHost(root, p);
    if (why) throw refuse(why, p);
    // The directory as the host reaches it, inside the tree (links on the way resolved there).
    const dir = await inTree(root, `${p}/.`);
    const walk = async (host: string, guest: string): Promise<void> => {
      for (const e of await readdir(host, { withFileTypes: true }).catch(() => [])) {
        const g = `${guest}/${e.name}`;
        if (e.isSymbolicLink()) {
          const away = await leavesTreeOnHost(root, g);
          if (away) throw refuse(away, g);
        } else if (e.isDirectory()) await walk(join(host, e.name), g);
      }
    };
    await walk(dir, dir.slice(root.length) || '/');
  }
}

/**
 * A dnf or zypper install that failed: `refusal` (the tool's output read as one sentence) when
 * there is one, else the exit status; the hint names the command and the log that holds its output.
 */
export function installFailed(ctx: BuildContext, o: BootstrapOptions, argv: readonly string[], r: RunResult, refusal: string | undefined): OsbError {
  return new OsbError(refusal ?? `${argv[0]} failed (exit ${r.exitCode}) installing ${o.distro.name} ${o.release}`, `the command and its output are in ${ctx.run.logPath ?? 'the log'}: ${shellQuote(argv)}`);
}

/** Kata's rootfs.sh leaves an empty resolv.conf; the runtime provides DNS. */
export async function emptyResolvConf(root: string): Promise<void> {
  await writeFileMode(await freshInTree(root, '/etc/resolv.conf'), '', 0o644);
}

/** dnf and zypper lines that name why a build was refused, turned into one clear sentence. */
export function refusalReason(output: string): string | undefined {
  const rules: Array<[RegExp, (m: RegExpExecArray) => string]> = [
    [/Package (\S+?)(?:\.rpm)? is not signed/, (m) => `${m[1]} is not signed: refused`],
    [/Public key for (\S+?)(?:\.rpm)? is not installed/, (m) => `${m[1]} is signed by a key osb does not trust: refused`],
    [/Problem opening package (\S+?)(?:\.rpm)?\s*$/m, (m) => `${m[1]} does not verify (altered or damaged): refused`],
    [/Failed to download metadata for repo '([^']+)': GPG verification is enabled, but GPG signature is not available/, (m) => `repository '${m[1]}' serves no signature for its repomd.xml (repomd.xml.asc): refused`],
    [/Failed to download metadata for repo '([^']+)': repomd\.xml GPG signature verification error/, (m) => `the repomd.xml of repository '${m[1]}' does not verify against the keys osb trusts: refused`],
    [/Downloading successful, but checksum doesn't match|checksum doesn't match/, () => 'a downloaded package does not match the checksum in the signed repository metadata: refused'],
    [/No match for argument: (\S+)/, (m) => `no package or group '${m[1]}' in the repositories`],
    [/Module or Group '([^']+)' does not exist/, (m) => `no group '${m[1]}' in the repositories`],
    [/Failed to download metadata for repo '([^']+)'/, (m) => `could not download the metadata of repository '${m[1]}'`],
  ];
  for (const [re, f] of rules) {
    const m = re.exec(output);
    if (m) return f(m);
  }
  return undefined;
}
