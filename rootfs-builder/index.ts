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
import { checkCopyfiles, copyFiles, runCmds, type CmdStep, type CopyStep } from './steps.js';
import { configureToolbox, containerToolPackages, type ContainerTool } from './container-tools.js';
import type { FetchedKey } from './repo-keys.js';

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
  readonly repos?: readonly (ExtraRepo & { readonly keyUrl?: string })[];
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
  /** false: no agent at all, a plain OS image (image-build's). @default true */
  readonly agent?: boolean;
  /** Make the tree an image toolbox or distrobox enters with nothing to install (container-tools.ts). @default [] */
  readonly containerTools?: readonly ContainerTool[];
  /** false: only `repos`, not the distro's own repositories. @default true */
  readonly distroRepos?: boolean;
  /** HTTP proxy for the package manager and key downloads. */
  readonly proxy?: string;
  /** dnf module commands before the packages. @default [] */
  readonly modules?: readonly { readonly command: string; readonly specs: readonly string[] }[];
  /** Removed after the installs with the dependencies only they needed. @default [] */
  readonly removePackages?: readonly string[];
  /** Copied in after the packages (image-build copyfiles). @default [] */
  readonly copyfiles?: readonly CopyStep[];
  /** Run chrooted in the tree after copyfiles (image-build cmds). @default [] */
  readonly cmds?: readonly CmdStep[];
  /** After the cmds, before the agent and the hooks: further work on the staged tree (Ansible playbooks). */
  readonly customize?: (ctx: BuildContext, tree: string) => Promise<void>;
  /** After everything, on the finished tree before it replaces the rootfs (the OpenSCAP scan). */
  readonly inspect?: (ctx: BuildContext, tree: string) => Promise<void>;
  /**
   * Start from this tree instead of bootstrapping the distro (a --parent image): `tree` gives the
   * unpacked base, kept in the cache and never written; the stage is a copy of it, and the extra
   * packages (engines with installOnTree), copyfiles, cmds, the agent and the hooks go on top.
   */
  readonly base?: { readonly describe: string; tree(ctx: BuildContext, seal?: 'now' | 'later'): Promise<string> };

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
  await checkCopyfiles(o.copyfiles ?? []);
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
  const withAgent = o.agent !== false;
  const tools = o.containerTools ?? [];
  // The user's packages and the ones --toolbox/--distrobox need go in together, each checked after the install.
  const toolPackages = containerToolPackages(distro, tools);
  const extraPackages = [...new Set([...o.extraPackages, ...toolPackages])];
  const packages = [...distro.basePackages, ...(o.agentInit || !withAgent ? [] : distro.systemdPackages), ...extraPackages];
  const engine = await engineFor(distro);
  const removes = o.removePackages ?? [];
  if (removes.length && !['dnf', 'zypper'].includes(distro.engine)) throw new OsbError(`remove_packages is not supported for ${distro.name} yet (dnf and zypper distros only)`, 'remove them in a hook, or build an RPM distro');
  if (o.modules?.length && distro.engine !== 'dnf') throw new OsbError(`modules are dnf module streams; ${distro.name} installs with ${distro.engine}`, 'remove modules, or build a dnf distro');
  // Keys given as URLs (image-build's gpg:) are fetched once, then read from the cache.
  const fetchedKeys: FetchedKey[] = [];
  const repos: ExtraRepo[] = [];
  for (const r of o.repos ?? []) {
    if (!r.keyUrl) {
      repos.push(r);
      continue;
    }
    const { fetchKeyOnce } = await import('./repo-keys.js');
    const k = await fetchKeyOnce(ctx, r.keyUrl, o.cacheDir, o.proxy);
    if (ctx.dryRun && !k.sha256) {
      repos.push({ ...r, pendingKey: k.path });
      continue;
    }
    fetchedKeys.push(k);
    repos.push({ ...r, key: k.path });
  }
  const bootstrap = {
    distro, release, arch, distroArch, mirror, packages, extraPackages, cacheDir: o.cacheDir, keysDir: o.keysDir, agentInit: o.agentInit, slim: o.slim ?? true,
    customMirror: o.mirror !== undefined, packageGroups: o.packageGroups ?? [], repos, allowUnsigned: o.allowUnsigned ?? false,
    distroRepos: o.distroRepos ?? true, modules: o.modules ?? [], removePackages: removes, proxy: o.proxy,
  };
  // On a parent the package manager runs only when there is something for it to do.
  const packageWork = extraPackages.length > 0 || (o.packageGroups?.length ?? 0) > 0 || (o.modules?.length ?? 0) > 0 || removes.length > 0;
  if (o.base && packageWork && !engine.installOnTree) throw new OsbError(`${distro.name} cannot install packages on a parent image yet`, 'leave the packages to the parent, or add them with a hook');
  // e.g. neither root nor user namespaces: fail before any work (a parent without packages needs no engine)
  if (!o.base || packageWork) await engine.preflight(ctx, { ...bootstrap, target: '' });

  const finalDir = resolve(o.rootfsDir);
  const stage = join(dirname(finalDir), `.${basename(finalDir)}.osb-stage-${process.pid}`);
  if (!ctx.dryRun) {
    await removeStaleTemps(finalDir);
    await mkdir(dirname(finalDir), { recursive: true });
  }
  const release_ = onCleanup(() => rm(stage, { recursive: true, force: true }));
  try {
    // Everything that changes the tree after its packages, in image-build's order: copyfiles, then
    // cmds (then Ansible, on a parent), then the agent and the hooks.
    const change = async (tree: string) => {
      if (o.base && packageWork) await engine.installOnTree!(ctx, { ...bootstrap, target: tree }, extraPackages);
      if (tools.includes('toolbox')) await configureToolbox(ctx, tree, distro);
      await copyFiles(ctx, tree, o.copyfiles ?? []);
      await runCmds(ctx, tree, o.cmds ?? [], o.proxy ? { http_proxy: o.proxy, https_proxy: o.proxy } : {});
      await o.customize?.(ctx, tree);
      if (withAgent) {
        ctx.log.info(o.agentInit ? `installing agent ${agentName} as /sbin/init` : `installing agent ${agentName} with ${agentName}.service`);
        if (!ctx.dryRun) await installAgent({ rootfs: tree, source, agentInit: o.agentInit, name: agentName });
      }
      await runHooks(ctx, o.hooks, tree, {});
    };
    // A parent of another distro (or none: a busybox tree) has no package database to read.
    const listPackages = () =>
      engine.listPackages(ctx, stage).catch((e: unknown) => {
        if (!o.base) throw e;
        ctx.log.warn(`no package list for the rootfs: ${(e as Error).message.split('\n')[0]}`);
        return [];
      });
    let early: ReturnType<typeof listPackages> | undefined;
    if (o.base) {
      ctx.log.info(`unpacking ${o.base.describe} as the base`);
      if (ctx.dryRun) await change(stage);
      else {
        await mkdir(stage, { mode: 0o755 });
        // The parent is unpacked once into the cache; the steps work on an overlay over it while
        // it is copied into the stage (rootfs-builder/overlay.ts). The cache entry's seal is
        // checked meanwhile; if a write by hand broke it, the work is done again on a new entry.
        const { workOnCopy } = await import('./overlay.js');
        const { sealVerdict } = await import('../lib/tree-cache.js');
        const scratch = join(dirname(finalDir), `.${basename(finalDir)}.osb-tmp-${process.pid}`);
        const lower = await o.base.tree(ctx, 'later');
        await workOnCopy(ctx, lower, stage, scratch, change);
        const broken = await sealVerdict(lower);
        if (broken) {
          // The entry is made again (with a warning that says why), and the steps run on it.
          ctx.log.info(`the steps ran on a cached ${o.base.describe} that had changed (${broken}); running them again`);
          await rm(stage, { recursive: true, force: true });
          await mkdir(stage, { mode: 0o755 });
          await workOnCopy(ctx, await o.base.tree(ctx, 'now'), stage, scratch, change);
        }
      }
    } else {
      await engine.bootstrap(ctx, { ...bootstrap, target: stage });
      // With no hook to change them, the packages are read back while the agent goes in.
      early = !ctx.dryRun && o.hooks.length === 0 && !o.cmds?.length && !o.customize ? listPackages() : undefined;
      early?.catch(() => undefined); // awaited below; a failure is reported there, not as unhandled
      await change(stage);
    }
    const manifest: RootfsManifest = {
      tool: 'osb',
      distro: distro.name,
      release,
      arch,
      mirror,
      agentInit: o.agentInit,
      slim: bootstrap.slim,
      agent: withAgent ? { name: agentName, source: o.agentBin ?? 'builtin', sha256: ctx.dryRun ? '' : await sha256File(source), builtin: !o.agentBin } : null,
      extraPackages: [...o.extraPackages],
      ...(tools.length ? { containerTools: { tools: [...tools], packages: toolPackages } } : {}),
      ...(o.packageGroups?.length ? { packageGroups: [...o.packageGroups] } : {}),
      ...(repos.length ? { repos: repos.map((r) => ({ url: r.url, ...(r.alias ? { alias: r.alias } : {}), ...(r.key ? { key: resolve(r.key) } : {}), ...keyRecord(fetchedKeys, r.key) })) } : {}),
      ...(o.modules?.length ? { modules: o.modules } : {}),
      ...(removes.length ? { removedPackages: [...removes] } : {}),
      ...(o.copyfiles?.length ? { copyfiles: o.copyfiles.map((c) => ({ src: c.src, dest: c.dest })) } : {}),
      ...(o.cmds?.length ? { cmds: o.cmds.map((c) => c.cmd) } : {}),
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
    const plain = extraPackages.map((p) => /^([A-Za-z0-9][A-Za-z0-9+._-]*)(=.*)?$/.exec(p)?.[1]).filter((p): p is string => Boolean(p));
    const missing = plain.filter((p) => !removes.includes(p) && !manifest.packages.some((q) => q.name === p));
    if (missing.length) throw new OsbError(`extra packages missing after install: ${missing.join(', ')}`);
    const gone = removes.filter((p) => manifest.packages.some((q) => q.name === p));
    if (gone.length) throw new OsbError(`packages still installed after remove_packages: ${gone.join(', ')}`);
    await writeOsbuilderYaml(stage, manifest);
    await o.checkTree?.(stage);
    await o.inspect?.(ctx, stage);
    await writeFile(siblingMarkerFor(finalDir), `created by osb; osb may replace ${basename(finalDir)}\n`);
    await replaceDir(stage, finalDir);
    await writeAtomic(o.manifestPath, (tmp) => writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n'));
    return manifest;
  } finally {
    release_();
    if (existsSync(stage)) await rm(stage, { recursive: true, force: true });
  }
}

/** The build record's line for a key fetched by URL: where from, its sha256 and fingerprints. */
function keyRecord(keys: readonly FetchedKey[], path: string | undefined): Record<string, unknown> {
  const k = keys.find((x) => x.path === path);
  return k ? { keyUrl: k.url, keySha256: k.sha256, keyFingerprints: k.fingerprints } : {};
}

export { builtinAgentPath };
