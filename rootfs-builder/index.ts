/**
 * buildRootfs: the generic steps around a distro's bootstrap. Everything happens in a staging
 * directory beside the target; only a complete rootfs is moved into place, so a failed or
 * interrupted build leaves the previous rootfs (or none).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { assertNotPrecious, assertOwnedOrEmpty, removeStaleTemps, replaceDir, siblingMarkerFor, writeAtomic } from '../lib/atomic.js';
import { onCleanup } from '../lib/cleanup.js';
import { sha256File } from '../lib/hash.js';
import { OsbError } from '../lib/errors.js';
import { binfmtStatus } from '../lib/binfmt.js';
import { getDistro, hostArch, resolveArch, resolveRelease } from '../distros/index.js';
import { agentSource, builtinAgentPath, checkAgentBin, installAgent } from './agent.js';
import { engineFor, type ExtraRepo } from './engines/index.js';
import { checkHook, runHooks } from './hooks.js';
import { writeOsbuilderYaml, type RootfsManifest } from './manifest.js';

export interface RootfsOptions {
  // Where the packages come from, and what vouches for them.
  /** @default 'debian' */
  readonly distro: string;
  /** @default the distro's default release */
  readonly release?: string;
  /** @default the host's architecture */
  readonly arch?: string;
  /** @default the distro's official archive */
  readonly mirror?: string;
  /** Repositories beyond the distro's own (osb.yaml `repos`). @default [] */
  readonly repos?: readonly ExtraRepo[];
  /** Extra trusted repository signing keys (Alpine, RPM distros). */
  readonly keysDir?: string;
  /** Allow a distro whose packages are unsigned (Clear Linux). @default false */
  readonly allowUnsigned?: boolean;

  // What goes into the tree.
  readonly extraPackages: readonly string[];
  /** dnf groups / zypper patterns. @default [] */
  readonly packageGroups?: readonly string[];
  /** Leave out docs, man/info pages and translations, the distro-native way. @default true */
  readonly slim?: boolean;
  /** The agent is /sbin/init; else systemd starts it from NAME.service. */
  readonly agentInit: boolean;
  /** @default the built-in smoke-test agent */
  readonly agentBin?: string;
  /** @default 'kata-agent' with agentBin, else 'osb-agent' */
  readonly agentName?: string;
  readonly hooks: readonly string[];
  /**
   * Start from this tree instead of bootstrapping the distro (a --parent image): `unpack` fills
   * the empty staging directory; the extra packages (engines with installOnTree), the agent and
   * the hooks go on top.
   */
  readonly base?: { readonly describe: string; unpack(ctx: BuildContext, target: string): Promise<void> };

  // Where the build reads and writes on the host.
  /** Final location of the rootfs. */
  readonly rootfsDir: string;
  /** Package cache shared between builds. */
  readonly cacheDir: string;
  /** Where the manifest goes (WORKDIR/rootfs.manifest.json). */
  readonly manifestPath: string;
  /** Input hash recorded in the manifest. */
  readonly inputsHash: string;
  /** Where binfmt_misc is mounted, checked for a foreign arch. @default /proc/sys/fs/binfmt_misc */
  readonly binfmtDir?: string;
  /**
   * A last check of the staged tree, after the agent, the hooks and osbuilder.yaml, before it replaces the
   * rootfs (the CLI's: the tree is a whole OS, unless --allow-empty). A throw leaves the previous
   * rootfs as it was.
   */
  readonly checkTree?: (dir: string) => void | Promise<void>;
}

/** Checks that need no build: run before anything starts, so bad input fails in a second. */
export async function validateRootfsOptions(o: RootfsOptions): Promise<void> {
  const d = getDistro(o.distro);
  resolveRelease(d, o.release);
  const { arch } = resolveArch(d, o.arch);
  // A foreign arch runs the guest's package scripts through qemu-user: without the binfmt
  // handler the bootstrap would download everything and then fail in the first maintainer script.
  if (arch !== hostArch()) {
    const b = binfmtStatus(arch, o.binfmtDir);
    if (!b.ok) throw new OsbError(`cannot build a rootfs for ${arch} on this ${hostArch()} host: ${b.why}`, b.fix);
  }
  assertNotPrecious(o.rootfsDir, 'ROOTFS_DIR');
  await assertOwnedOrEmpty(o.rootfsDir);
  if (o.agentBin) await checkAgentBin(o.agentBin);
  for (const h of o.hooks) await checkHook(h);
  for (const r of o.repos ?? []) if (r.key && !existsSync(r.key)) throw new OsbError(`the signing key ${r.key} of repository ${r.url} does not exist`, 'fix the key path in osb.yaml repos (relative paths are relative to osb.yaml)');
  if (!o.agentName || /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/.test(o.agentName)) return;
  throw new OsbError(`agent name '${o.agentName}' is not a valid file and unit name`, 'use letters, digits, dot, dash or underscore');
}

export async function buildRootfs(ctx: BuildContext, o: RootfsOptions): Promise<RootfsManifest> {
  await validateRootfsOptions(o);
  const distro = getDistro(o.distro);
  const release = resolveRelease(distro, o.release);
  const { arch, distroArch } = resolveArch(distro, o.arch);
  const mirror = o.mirror ?? distro.defaultMirror(arch);
  const agentName = o.agentName ?? (o.agentBin ? 'kata-agent' : 'osb-agent');
  const source = agentSource(o.agentBin);
  const packages = [...distro.basePackages, ...(o.agentInit ? [] : distro.systemdPackages), ...o.extraPackages];
  const engine = await engineFor(distro);
  const bootstrap = {
    distro, release, arch, distroArch, mirror, packages, extraPackages: o.extraPackages, cacheDir: o.cacheDir, keysDir: o.keysDir, agentInit: o.agentInit, slim: o.slim ?? true,
    customMirror: o.mirror !== undefined, packageGroups: o.packageGroups ?? [], repos: o.repos ?? [], allowUnsigned: o.allowUnsigned ?? false,
  };
  if (o.base && o.extraPackages.length && !engine.installOnTree) throw new OsbError(`${distro.name} cannot install packages on a parent image yet`, 'leave the packages to the parent, or add them with a hook');
  // e.g. neither root nor user namespaces: fail before any work (a parent without packages needs no engine)
  if (!o.base || o.extraPackages.length) await engine.preflight(ctx, { ...bootstrap, target: '' });

  const finalDir = resolve(o.rootfsDir);
  const stage = join(dirname(finalDir), `.${basename(finalDir)}.osb-stage-${process.pid}`);
  if (!ctx.dryRun) {
    await removeStaleTemps(finalDir);
    await mkdir(dirname(finalDir), { recursive: true });
  }
  const release_ = onCleanup(() => rm(stage, { recursive: true, force: true }));
  try {
    if (o.base) {
      ctx.log.info(`unpacking ${o.base.describe} as the base`);
      if (!ctx.dryRun) {
        await mkdir(stage, { mode: 0o755 });
        await chmod(stage, 0o755); // the guest's /, whatever the umask
      }
      if (!ctx.dryRun) await o.base.unpack(ctx, stage);
      if (o.extraPackages.length) await engine.installOnTree!(ctx, { ...bootstrap, target: stage }, o.extraPackages);
    } else {
      await engine.bootstrap(ctx, { ...bootstrap, target: stage });
    }
    // A parent of another distro (or none: a busybox tree) has no package database to read.
    const listPackages = () =>
      engine.listPackages(ctx, stage).catch((e: unknown) => {
        if (!o.base) throw e;
        ctx.log.warn(`no package list for the rootfs: ${(e as Error).message.split('\n')[0]}`);
        return [];
      });
    // With no hook to change them, the packages are read back while the agent goes in.
    const early = !ctx.dryRun && o.hooks.length === 0 ? listPackages() : undefined;
    early?.catch(() => undefined); // awaited below; a failure is reported there, not as unhandled
    ctx.log.info(o.agentInit ? `installing agent ${agentName} as /sbin/init` : `installing agent ${agentName} with ${agentName}.service`);
    if (!ctx.dryRun) await installAgent({ rootfs: stage, source, agentInit: o.agentInit, name: agentName });
    await runHooks(ctx, o.hooks, stage, {});
    const manifest: RootfsManifest = {
      tool: 'osb',
      distro: distro.name,
      release,
      arch,
      mirror,
      agentInit: o.agentInit,
      slim: bootstrap.slim,
      agent: { name: agentName, source: o.agentBin ?? 'builtin', sha256: ctx.dryRun ? '' : await sha256File(source), builtin: !o.agentBin },
      extraPackages: [...o.extraPackages],
      ...(o.packageGroups?.length ? { packageGroups: [...o.packageGroups] } : {}),
      ...(o.repos?.length ? { repos: o.repos.map((r) => ({ url: r.url, ...(r.key ? { key: resolve(r.key) } : {}) })) } : {}),
      hooks: o.hooks.map((h) => resolve(h)),
      packages: ctx.dryRun ? [] : await (early ?? listPackages()),
      inputsHash: o.inputsHash,
      sourceDateEpoch: ctx.sourceDateEpoch,
    };
    if (ctx.dryRun) {
      ctx.log.info(`would move the staged rootfs to ${finalDir} and write ${o.manifestPath}`);
      return manifest;
    }
    // Only plain package names can be checked by name (`pkg` or apt's `pkg=version`); virtual
    // names, so:/cmd: provides and version constraints are the engine's to resolve.
    const plain = o.extraPackages.map((p) => /^([A-Za-z0-9][A-Za-z0-9+._-]*)(=.*)?$/.exec(p)?.[1]).filter((p): p is string => Boolean(p));
    const missing = plain.filter((p) => !manifest.packages.some((q) => q.name === p));
    if (missing.length) throw new OsbError(`extra packages missing after install: ${missing.join(', ')}`);
    await writeOsbuilderYaml(stage, manifest);
    await o.checkTree?.(stage);
    await writeFile(siblingMarkerFor(finalDir), `created by osb; osb may replace ${basename(finalDir)}\n`);
    await replaceDir(stage, finalDir);
    await writeAtomic(o.manifestPath, (tmp) => writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n'));
    return manifest;
  } finally {
    release_();
    if (existsSync(stage)) await rm(stage, { recursive: true, force: true });
  }
}

export { builtinAgentPath };
