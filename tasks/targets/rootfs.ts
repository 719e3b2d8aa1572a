/** The rootfs target: the distro bootstrapped (or a --parent unpacked), the agent, the hooks. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OsbError, UsageError } from '../../lib/errors.js';
import { getDistro, hostArch } from '../../distros/index.js';
import type { Target } from '../engine/target.js';
import type { BuildContext } from '../../lib/context.js';
import { cacheDir, manifestPath, parentPaths, rootfsDir, scapPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { supplyChainOutputs } from './supply-chain.js';
import { containerTools } from './tree.js';

async function rootfsOptions(s: Settings, inputsHash = '') {
  return {
    distro: s.distro,
    release: s.osVersion,
    arch: s.arch,
    mirror: s.mirror,
    extraPackages: s.extraPkgs,
    agentInit: s.agentInit,
    slim: s.slim,
    agentBin: s.agentBin,
    agentName: s.agentName,
    hooks: s.hook,
    rootfsDir: rootfsDir(s),
    cacheDir: cacheDir(s),
    keysDir: s.keysDir,
    packageGroups: s.packageGroups,
    // osb.yaml `repos` and --repo URL,KEYFILE.
    repos: [...s.repos, ...parseRepos(s.repo)],
    allowUnsigned: s.allowUnsigned,
    // An image for toolbox or distrobox is entered, never booted: it has no agent.
    agent: s.agent && !containerTools(s).length,
    containerTools: containerTools(s),
    distroRepos: s.distroRepos,
    proxy: s.proxy,
    modules: s.modules,
    removePackages: s.removePackages,
    copyfiles: s.copyfiles,
    cmds: s.cmds,
    customize: s.ansiblePlaybook.length ? (ctx: BuildContext, tree: string) => runAnsible(ctx, s, tree) : undefined,
    inspect: s.scapDatastream || s.ovalDefinitions ? (ctx: BuildContext, tree: string) => scan(ctx, s, tree) : undefined,
    manifestPath: manifestPath(s),
    inputsHash,
    base: (await import('./parent.js')).parentBase(s),
    checkTree: s.allowEmpty ? undefined : (stage: string) => checkBuiltTree(s, stage),
  };
}

/** image-build's Ansible layer: the playbooks against the staged tree (the parent unpacked). */
async function runAnsible(ctx: BuildContext, s: Settings, tree: string): Promise<void> {
  const { runPlaybooks } = await import('../../ansible-layer/index.js');
  await runPlaybooks(ctx, { tree, playbooks: s.ansiblePlaybook, inventory: s.ansibleInventory, groups: s.ansibleGroup, vars: s.ansibleVars, verbosity: s.ansibleVerbosity });
}

/** The OpenSCAP scan (and OVAL evaluation) of the finished tree, results beside the rootfs. */
async function scan(ctx: BuildContext, s: Settings, tree: string): Promise<void> {
  const { scanTree } = await import('../../openscap/index.js');
  const p = scapPaths(s);
  let oval = s.ovalDefinitions;
  if (oval && /^https?:\/\//.test(oval)) oval = (await (await import('../../rootfs-builder/repo-keys.js')).fetchOnce(ctx, oval, cacheDir(s), s.proxy, { what: 'the OVAL definitions' })).path;
  if (!s.scapDatastream) throw new UsageError('--oval-definitions needs --scap-datastream too (osb runs the OVAL evaluation with the XCCDF scan)', 'give the data stream (image-build: openscap benchmark_path)');
  const r = await scanTree(ctx, { tree, datastream: s.scapDatastream, profile: s.scapProfile, outDir: p.dir, basename: p.basename, failOnRule: s.scapFail, oval });
  ctx.log.info(`OpenSCAP: ${r.pass} rules pass, ${r.fail} fail${r.failed.length ? ` (${r.failed.slice(0, 3).join(', ')}${r.failed.length > 3 ? ', ...' : ''})` : ''}; results ${r.arf}, report ${r.html}`);
}

/** The rootfs osb built (on a parent, after the hooks) must be a whole OS too, before it replaces the old one. */
async function checkBuiltTree(s: Settings, stage: string): Promise<void> {
  const { missingFromTree } = await import('../../lib/bootable.js');
  const lacks = missingFromTree(stage, { container: containerTools(s).length > 0 });
  if (lacks) throw new UsageError(`refusing to make the rootfs ${rootfsDir(s)}: the tree built ${s.parent ? `on --parent ${s.parent}` : 'from the distro'} ${lacks}`, `${s.agentInit || containerTools(s).length ? '' : 'add --agent-init (the agent as /sbin/init), '}build on a parent that is a whole OS, or pass --allow-empty if you mean it`);
}

/**
 * --repo URL,KEYFILE, repeatable. Array settings arrive split at commas, so a URL item starts a
 * repository and the next item is its key. (osb.yaml `repos` entries give the same {url, key}.)
 */
export function parseRepos(values: readonly string[]): { url: string; key: string }[] {
  const items = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const out: { url: string; key: string }[] = [];
  for (let i = 0; i < items.length; i += 2) {
    const [url, key] = [items[i]!, items[i + 1]];
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || !key || /^[a-z][a-z0-9+.-]*:\/\//i.test(key)) {
      throw new OsbError(`--repo must be URL,KEYFILE; got '${values.join(' ')}'`, 'give the repository URL and the armored public key that signs it, e.g. --repo https://example.org/repo/,/etc/pki/RPM-GPG-KEY-example');
    }
    out.push({ url, key });
  }
  return out;
}

/** The signing keys osb ships for the distro are an input: a changed key must rebuild what it verified. */
async function shippedKeys(s: Settings): Promise<Record<string, string>> {
  const { builtinKeysRoot } = await import('../../rootfs-builder/engines/apk/keys.js');
  const { hashPath } = await import('../../lib/hash.js');
  // Alpine: every key osb ships; RPM distros and Ubuntu: distros/keys/<distro>/.
  const dir = s.distro === 'alpine' ? builtinKeysRoot() : join(builtinKeysRoot(), s.distro);
  return existsSync(dir) ? { 'shipped signing keys': await hashPath(dir) } : {};
}

export const rootfs: Target = {
  name: 'rootfs',
  summary: 'Root filesystem for the distro with the agent installed (WORKDIR/rootfs)',
  cacheable: true,
  deps: () => [],
  settings: [
    'distro', 'osVersion', 'arch', 'mirror', 'extraPkgs', 'toolbox', 'distrobox', 'agentInit', 'slim', 'agentName', 'rootfsDir', 'repos', 'sourceDateEpoch', 'packageGroups', 'repo', 'allowUnsigned', 'parent',
    // image-build's steps, in its order: repos, modules, groups, packages, remove_packages, copyfiles, cmds, Ansible, OpenSCAP.
    'agent', 'distroRepos', 'gpgcheck', 'modules', 'removePackages', 'copyfiles', 'cmds', 'ansiblePlaybook', 'ansibleInventory', 'ansibleGroup', 'ansibleVars', 'ansibleVerbosity', 'scapDatastream', 'scapProfile', 'scapFail', 'ovalDefinitions',
  ],
  files: (s) => [
    ...s.hook, ...(s.agentBin ? [s.agentBin] : []), ...(s.keysDir ? [s.keysDir] : []), ...s.repos.flatMap((r) => (r.key ? [r.key] : [])), ...parseRepos(s.repo).map((r) => r.key),
    // What copyfiles copies and the playbooks read are inputs: a changed source rebuilds.
    ...s.copyfiles.map((c) => c.src), ...s.ansiblePlaybook, ...s.ansibleInventory, ...(s.scapDatastream ? [s.scapDatastream] : []), ...(s.ovalDefinitions && !/^https?:/.test(s.ovalDefinitions) ? [s.ovalDefinitions] : []),
  ],
  extraInputs: async (s) => {
    const { builtinAgentPath } = await import('../../rootfs-builder/agent.js');
    const { hashPath } = await import('../../lib/hash.js');
    return { ...(s.agentBin ? {} : { 'builtin agent': await hashPath(builtinAgentPath()) }), ...(await shippedKeys(s)) };
  },
  outputs: (s) => [rootfsDir(s), manifestPath(s), ...supplyChainOutputs(s, 'rootfs'), ...(s.parent ? [parentPaths(s).state] : []), ...(s.scapDatastream ? [scapPaths(s).arf, scapPaths(s).html] : [])],
  // The distro's engine says what it runs; an unknown distro is refused, with the list.
  tools: async (s) => {
    const distro = getDistro(s.distro);
    const { engineFor } = await import('../../rootfs-builder/engines/index.js');
    const arch = s.arch ?? hostArch();
    const steps = [
      ...(s.repos.some((r) => r.keyUrl) || /^https?:/.test(s.ovalDefinitions ?? '') ? ['curl', 'gpg'] : []),
      ...(s.cmds.length ? ['unshare', 'chroot'] : []),
      ...(s.parent?.startsWith('containers-storage:') ? ['skopeo'] : []),
      ...(s.scapDatastream ? (await import('../../openscap/index.js')).scapHostTools() : []),
      ...(s.ansiblePlaybook.length ? (await import('../../ansible-layer/index.js')).ansibleHostTools() : []),
    ];
    return [...(await engineFor(distro)).hostTools({ arch, foreign: arch !== hostArch() }), ...steps];
  },
  validate: async (s) => {
    const tools = containerTools(s);
    if (tools.length && (s.agentInit || s.agentBin)) throw new UsageError(`${tools.map((t) => `--${t}`).join(' and ')} makes an image a container tool enters, with no agent; ${s.agentInit ? '--agent-init' : '--agent-bin'} is for a guest`, `leave out ${s.agentInit ? '--agent-init' : '--agent-bin'}, or build the guest in another --workdir`);
    if (!s.gpgcheck && !s.allowUnsigned) throw new UsageError(`${s.sources.gpgcheck}: gpgcheck: false would install packages nobody vouches for`, 'give the repositories their keys (repos gpg:, --keys-dir), or pass --allow-unsigned if you mean it');
    if (s.ansiblePlaybook.length && !s.parent) throw new UsageError('--ansible-playbook runs on a parent image, and there is none', 'give --parent (image-build: options.parent), the base the playbooks configure');
    if (s.ansiblePlaybook.length) await (await import('../../ansible-layer/index.js')).checkAnsibleOptions({ tree: '', playbooks: s.ansiblePlaybook, inventory: s.ansibleInventory, groups: s.ansibleGroup, vars: s.ansibleVars, verbosity: s.ansibleVerbosity });
    const { validateRootfsOptions } = await import('../../rootfs-builder/index.js');
    await validateRootfsOptions(await rootfsOptions(s));
  },
  run: async (ctx, s, inputsHash) => {
    const { buildRootfs } = await import('../../rootfs-builder/index.js');
    await buildRootfs(ctx, await rootfsOptions(s, inputsHash));
    await (await import('./supply-chain.js')).writeSupplyChain(ctx, s, 'rootfs', inputsHash, rootfs.settings);
  },
};
