/**
 * The target table (DESIGN principle 1). Each target names its dependencies, the settings and
 * files it reads, and its outputs; `run` loads its builder only when it actually builds.
 */
import type { BuildContext } from '../lib/context.js';
import type { ExtraRepo } from '../rootfs-builder/engines/index.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OsbError, UsageError } from '../lib/errors.js';
import { hostArch } from '../distros/index.js';
import type { Settings } from './settings.js';
import type { Target } from './target.js';
import { publishDeps } from './publish.js';
import { parentForOci, parentPaths } from './parent.js';
import { bundlePaths, cacheDir, imagePath, initrdPath, kernelPaths, manifestPath, ociPaths, rootfsDir, provenancePath, rootHashPath, sbomPath, squashfsPaths } from './paths.js';

/**
 * The SBOM and the provenance beside an artefact are outputs, not inputs: another --sbom-format
 * leaves the inputs alone, but the missing file makes the target rebuild.
 */
const sbomOutput = (s: Settings, kind: 'rootfs' | 'image' | 'initrd' | 'oci'): string[] => [sbomPath(s, kind), provenancePath(s, kind)];

const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

async function rootfsOptions(s: Settings, inputsHash = '') {
  return {
    distro: String(s.distro),
    release: str(s.osVersion),
    arch: str(s.arch),
    mirror: str(s.mirror),
    extraPackages: list(s.extraPkgs),
    agentInit: Boolean(s.agentInit),
    slim: s.slim !== false,
    agentBin: str(s.agentBin),
    agentName: str(s.agentName),
    hooks: list(s.hook),
    rootfsDir: rootfsDir(s),
    cacheDir: cacheDir(s),
    keysDir: str(s.keysDir),
    packageGroups: list(s.packageGroups),
    // osb.yaml `repos` and --repo URL,KEYFILE.
    repos: [...((s.repos ?? []) as ExtraRepo[]), ...parseRepos(list(s.repo))],
    allowUnsigned: Boolean(s.allowUnsigned),
    manifestPath: manifestPath(s),
    inputsHash,
    base: (await import('./parent.js')).parentBase(s),
    checkTree: s.allowEmpty ? undefined : (stage: string) => checkBuiltTree(s, stage),
  };
}

/** The rootfs osb built (on a parent, after the hooks) must be a whole OS too, before it replaces the old one. */
async function checkBuiltTree(s: Settings, stage: string): Promise<void> {
  const { missingFromTree } = await import('../lib/bootable.js');
  const lacks = missingFromTree(stage);
  if (lacks) throw new UsageError(`refusing to make the rootfs ${rootfsDir(s)}: the tree built ${s.parent ? `on --parent ${String(s.parent)}` : 'from the distro'} ${lacks}`, `${s.agentInit ? '' : 'add --agent-init (the agent as /sbin/init), '}build on a parent that is a whole OS, or pass --allow-empty if you mean it`);
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

/**
 * An artefact is made of a whole OS tree (lib/bootable.ts: an init and an os-release), unless
 * --allow-empty. With --no-deps the tree is there to check when the plan is made, before any
 * work; otherwise it is checked when the target starts, once the rootfs target has run.
 */
async function requireOsTree(s: Settings, what: string): Promise<void> {
  if (s.allowEmpty) return;
  const { missingFromTree } = await import('../lib/bootable.js');
  const dir = rootfsDir(s);
  const lacks = missingFromTree(dir);
  if (lacks) throw new UsageError(`refusing to make ${what} of ${dir}: it ${lacks}`, 'point --rootfs-dir at a whole OS tree, or pass --allow-empty if you mean it');
}

/** validate: with --no-deps, the tree must already be one (the plan builds no rootfs). */
const validateTree = (what: string) => async (s: Settings) => {
  if (s.deps === false) await requireOsTree(s, what);
};

export const rootfs: Target = {
  name: 'rootfs',
  describe: 'root filesystem with the agent',
  cacheable: true,
  deps: () => [],
  settings: ['distro', 'osVersion', 'arch', 'mirror', 'extraPkgs', 'agentInit', 'slim', 'agentName', 'rootfsDir', 'repos', 'sourceDateEpoch', 'packageGroups', 'repo', 'allowUnsigned', 'parent'],
  files: (s) => [
    ...list(s.hook),
    ...(s.agentBin ? [String(s.agentBin)] : []),
    ...(s.keysDir ? [String(s.keysDir)] : []),
    ...((s.repos ?? []) as ExtraRepo[]).flatMap((r) => (r.key ? [r.key] : [])),
    ...parseRepos(list(s.repo)).map((r) => r.key),
  ],
  extraInputs: async (s) => {
    const { builtinAgentPath } = await import('../rootfs-builder/agent.js');
    const { hashPath } = await import('../lib/hash.js');
    const inputs: Record<string, string> = {};
    if (!s.agentBin) inputs['builtin agent'] = await hashPath(builtinAgentPath());
    // The signing keys osb ships are an input: a changed key must rebuild what it verified.
    if (s.distro === 'alpine') inputs['shipped signing keys'] = await hashPath((await import('../rootfs-builder/engines/apk/keys.js')).builtinKeysRoot());
    // RPM distros and Ubuntu: the keys osb ships for the distro (distros/keys/<distro>/).
    else {
      const { join } = await import('node:path');
      const { existsSync } = await import('node:fs');
      const dir = join((await import('../rootfs-builder/engines/apk/keys.js')).builtinKeysRoot(), String(s.distro));
      if (existsSync(dir)) inputs['shipped signing keys'] = await hashPath(dir);
    }
    return inputs;
  },
  outputs: (s) => [rootfsDir(s), manifestPath(s), ...sbomOutput(s, 'rootfs'), ...(s.parent ? [parentPaths(s).state] : [])],
  validate: async (s) => {
    const { validateRootfsOptions } = await import('../rootfs-builder/index.js');
    await validateRootfsOptions(await rootfsOptions(s));
  },
  run: async (ctx, s, inputsHash) => {
    const { buildRootfs } = await import('../rootfs-builder/index.js');
    await buildRootfs(ctx, await rootfsOptions(s, inputsHash));
    await (await import('./sbom.js')).writeSupplyChain(ctx, s, 'rootfs', inputsHash, rootfs.settings);
  },
};

export const image: Target = {
  name: 'image',
  describe: 'partitioned disk image',
  cacheable: true,
  deps: () => ['rootfs'],
  settings: ['fsType', 'blockSize', 'rootFreeSpace', 'imageSize', 'partitionTable', 'dax', 'format', 'imageName', 'sourceDateEpoch', 'arch', 'measuredRootfs'],
  outputs: (s) => [imagePath(s), ...(s.measuredRootfs ? [rootHashPath(s)] : []), ...sbomOutput(s, 'image')],
  validate: validateTree('an image'),
  run: async (ctx, s, inputsHash) => {
    if (!ctx.dryRun) await requireOsTree(s, 'an image');
    const { buildImage } = await import('../image-builder/index.js');
    const arch = str(s.arch) ?? hostArch();
    // The DAX header (Kata's default) is for QEMU nvdimm, which only x86_64 guests get here; an
    // aarch64 "virt" guest takes the image over virtio-blk.
    const measured = Boolean(s.measuredRootfs);
    const dax = Boolean(s.dax) && arch === 'x86_64' && !measured;
    if (Boolean(s.dax) && !dax) ctx.log.info(`no DAX header: ${measured ? 'a measured rootfs boots over virtio-blk from /dev/dm-0' : `${arch} guests have no nvdimm (the image boots over virtio-blk)`}`);
    const r = await buildImage(ctx, {
      rootfsDir: rootfsDir(s),
      output: imagePath(s),
      fsType: s.fsType as 'ext4',
      blockSize: Number(s.blockSize),
      rootFreeSpaceMiB: Number(s.rootFreeSpace),
      imageSizeMiB: s.imageSize === undefined ? undefined : Number(s.imageSize),
      partitionTable: s.partitionTable as 'mbr',
      dax,
      arch,
      format: s.format as 'raw',
      // UUIDs and hash seeds derive from the inputs: same inputs, same bytes.
      seed: inputsHash,
      measured,
      rootHashOutput: measured ? rootHashPath(s) : undefined,
    });
    if (!ctx.dryRun) ctx.log.info(`wrote ${r.path} (${(r.sizeBytes / 1048576).toFixed(0)} MiB, ${r.fsType})`);
    await (await import('./sbom.js')).writeSupplyChain(ctx, s, 'image', inputsHash, image.settings, measured ? [rootHashPath(s)] : []);
  },
};

function parseOwner(v: unknown): { uid: number; gid: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+):(\d+)$/.exec(String(v));
  if (!m) throw new OsbError(`--owner must be UID:GID (e.g. 0:0); got '${v}'`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

export const initrd: Target = {
  name: 'initrd',
  describe: 'compressed cpio initrd',
  deps: () => ['rootfs'],
  settings: ['compression', 'owner', 'initrdName', 'agentInit', 'sourceDateEpoch'],
  files: (s) => list(s.initrdExtra),
  outputs: (s) => [initrdPath(s), ...sbomOutput(s, 'initrd')],
  validate: async (s) => {
    parseOwner(s.owner);
    await validateTree('an initrd')(s);
  },
  run: async (ctx, s, inputsHash) => {
    if (!ctx.dryRun) await requireOsTree(s, 'an initrd');
    const { buildInitrd } = await import('../initrd-builder/index.js');
    await buildInitrd(ctx, {
      rootfsDir: rootfsDir(s),
      output: initrdPath(s),
      compression: s.compression as 'zstd',
      owner: parseOwner(s.owner),
      agentInit: Boolean(s.agentInit),
      extraDirs: list(s.initrdExtra),
    });
    await (await import('./sbom.js')).writeSupplyChain(ctx, s, 'initrd', inputsHash, initrd.settings);
    await warnIfKernelCannotRead(ctx, s);
  },
};

/** osb's kernel in this workdir (if built) must be able to unpack the initrd's compression. */
export async function warnIfKernelCannotRead(ctx: BuildContext, s: Settings): Promise<void> {
  const { kernelReadsInitrd } = await import('../kernel-builder/config.js');
  const c = String(s.compression);
  if (kernelReadsInitrd(kernelPaths(s).config, c) === false) {
    ctx.log.warn(`the kernel osb built in ${s.workdir} cannot unpack a ${c} initrd (CONFIG_RD_${c.toUpperCase()} is not set): rebuild it with that option in a fragment, or use --compression gzip`);
  }
}

function kernelOptions(s: Settings) {
  const arch = str(s.arch) ?? hostArch();
  return {
    kernelSrc: str(s.kernelSrc),
    kernelVersion: str(s.kernelVersion),
    cacheDir: cacheDir(s),
    buildDir: join(kernelPaths(s).buildDir, arch),
    outDir: s.workdir,
    arch,
    fragments: list(s.kernelConfigFragment),
  };
}

export const kernel: Target = {
  name: 'kernel',
  describe: 'guest kernel',
  cacheable: true,
  deps: () => [],
  settings: ['kernelSrc', 'kernelVersion', 'arch'],
  files: (s) => list(s.kernelConfigFragment),
  extraInputs: async (s, ctx) => (await import('../kernel-builder/index.js')).kernelInputs(ctx, kernelOptions(s)),
  outputs: (s) => [kernelPaths(s).vmlinuz, kernelPaths(s).vmlinux, kernelPaths(s).config],
  validate: async (s) => (await import('../kernel-builder/index.js')).validateKernelOptions(kernelOptions(s)),
  run: async (ctx, s) => void (await (await import('../kernel-builder/index.js')).buildGuestKernel(ctx, kernelOptions(s))),
};

export const boot: Target = {
  name: 'boot',
  describe: 'boot under qemu to the ready line',
  deps: (s) => [...(s.kernel ? [] : ['kernel']), s.squashfs ? 'squashfs' : s.initrd ? 'initrd' : 'image'],
  settings: [],
  alwaysRun: true,
  outputs: () => [],
  run: async (ctx, s) => (await import('./boot.js')).runBootTarget(ctx, s),
};

/**
 * What a container runtime starts: kata-agent itself, or osb's smoke agent under sh. As PID 1
 * the smoke agent behaves as a VM's init and powers the machine off, which a container may not
 * do (it would wait forever); as a child of sh it prints its ready line and exits.
 */
function containerCommand(s: Settings): string[] {
  const name = str(s.agentName) ?? (s.agentBin ? 'kata-agent' : 'osb-agent');
  if (s.agentBin) return [`/usr/bin/${name}`];
  return ['/bin/sh', '-c', `${s.agentInit ? '/sbin/init' : `/usr/bin/${name}`}; exit $?`];
}

/**
 * org.opencontainers.image.source and .revision where the build knows them: from the CI that
 * runs it (GitHub Actions, GitLab CI). Elsewhere they are left out rather than guessed.
 */
function ciProvenance(environ: NodeJS.ProcessEnv = process.env): { source?: string; revision?: string } {
  if (environ.GITHUB_REPOSITORY && environ.GITHUB_SHA) {
    return { source: `${environ.GITHUB_SERVER_URL ?? 'https://github.com'}/${environ.GITHUB_REPOSITORY}`, revision: environ.GITHUB_SHA };
  }
  if (environ.CI_PROJECT_URL && environ.CI_COMMIT_SHA) return { source: environ.CI_PROJECT_URL, revision: environ.CI_COMMIT_SHA };
  return {};
}

/** `run`: also read the parent the rootfs was built on (validate runs before the rootfs exists). */
async function ociOptions(s: Settings, run = false) {
  const { parseKeyValues } = await import('../oci-builder/index.js');
  const { machine } = await import('node:os');
  const p = ociPaths(s);
  return {
    rootfsDir: rootfsDir(s),
    layoutDir: p.layout,
    archivePath: p.archive,
    dockerArchivePath: s.dockerArchive ? p.dockerArchive : undefined,
    ref: String(s.ociRef),
    compression: s.ociCompression as 'gzip',
    arch: str(s.arch) ?? machine(),
    cmd: containerCommand(s),
    labels: parseKeyValues(list(s.label), '--label'),
    annotations: parseKeyValues(list(s.annotation), '--annotation'),
    toolbox: Boolean(s.toolbox),
    parent: run ? await parentForOci(s) : undefined,
    ...ciProvenance(),
  };
}

export const oci: Target = {
  name: 'oci',
  describe: 'OCI image layout and oci-archive',
  deps: () => ['rootfs'],
  settings: ['ociRef', 'ociCompression', 'label', 'annotation', 'dockerArchive', 'toolbox', 'agentInit', 'agentName', 'agentBin', 'arch', 'sourceDateEpoch', 'parent'],
  extraInputs: async () => {
    const p = ciProvenance();
    return { 'image source': p.source ?? '', 'image revision': p.revision ?? '' };
  },
  outputs: (s) => [ociPaths(s).layout, ociPaths(s).archive, ...(s.dockerArchive ? [ociPaths(s).dockerArchive] : []), ...sbomOutput(s, 'oci')],
  validate: async (s) => {
    const { parseReference } = await import('../oci-builder/index.js');
    parseReference(String(s.ociRef));
    await ociOptions(s);
    await validateTree('an OCI image')(s);
  },
  run: async (ctx, s, inputsHash) => {
    if (!ctx.dryRun) await requireOsTree(s, 'an OCI image');
    const { buildOci } = await import('../oci-builder/index.js');
    // --dry-run: the rootfs was not unpacked, so there is no parent state to read yet.
    if (ctx.dryRun && s.parent) ctx.log.info(`would add one layer to the layers of --parent ${String(s.parent)}`);
    if (!ctx.dryRun) await (await import('./parent.js')).ensureParentLayout(ctx, s);
    await buildOci(ctx, await ociOptions(s, !ctx.dryRun));
    await (await import('./sbom.js')).writeSupplyChain(ctx, s, 'oci', inputsHash, oci.settings);
  },
};

export const bundle: Target = {
  name: 'bundle',
  describe: 'OCI runtime bundle',
  deps: () => ['rootfs'],
  settings: ['agentInit', 'agentName', 'agentBin', 'sourceDateEpoch'],
  outputs: (s) => [bundlePaths(s).dir, bundlePaths(s).tar],
  validate: validateTree('a bundle'),
  run: async (ctx, s) => {
    if (!ctx.dryRun) await requireOsTree(s, 'a bundle');
    const { buildBundle } = await import('../oci-builder/index.js');
    await buildBundle(ctx, { rootfsDir: rootfsDir(s), bundleDir: bundlePaths(s).dir, tarPath: bundlePaths(s).tar, args: containerCommand(s) });
  },
};

export const squashfs: Target = {
  name: 'squashfs',
  describe: 'squashfs and its boot initrd',
  deps: () => ['rootfs'],
  settings: ['squashfsCompression', 'sourceDateEpoch'],
  outputs: (s) => [squashfsPaths(s).image, squashfsPaths(s).bootInitrd],
  validate: (s) => {
    // The boot initrd carries the host's static busybox, which a guest of another arch cannot run.
    const arch = str(s.arch) ?? hostArch();
    if (arch !== hostArch()) throw new OsbError(`cannot make the squashfs boot initrd for ${arch} on this ${hostArch()} host: it holds the host's busybox`, `boot ${arch} guests from the initrd or the image (osb boot --initrd / --image)`);
    return validateTree('a squashfs')(s);
  },
  run: async (ctx, s) => {
    if (!ctx.dryRun) await requireOsTree(s, 'a squashfs');
    const { bootTreeInputs, buildSquashfs, writeSquashfsBootTree } = await import('../oci-builder/index.js');
    const { buildInitrd } = await import('../initrd-builder/index.js');
    const { mkdtemp, readFile, rm, writeFile } = await import('node:fs/promises');
    const { withCleanup } = await import('../lib/cleanup.js');
    const p = squashfsPaths(s);
    await buildSquashfs(ctx, { rootfsDir: rootfsDir(s), output: p.image, compression: s.squashfsCompression as 'zstd' });
    // The boot initrd: busybox and an /init that mounts the squashfs under a tmpfs overlay,
    // written by osb's own cpio writer. gzip: every kernel unpacks it.
    const boot = { output: p.bootInitrd, compression: 'gzip' as const, agentInit: false };
    if (ctx.dryRun) {
      await buildInitrd(ctx, { ...boot, rootfsDir: join(s.workdir, 'squashfs-boot-tree') });
      return;
    }
    // The boot initrd does not depend on the rootfs: it is rebuilt only when busybox, its /init or
    // SOURCE_DATE_EPOCH changed (a stamp beside it), so a new squashfs costs only mksquashfs.
    const stamp = join(s.workdir, '.osb-squashfs-boot.img.inputs');
    const inputs = `${await bootTreeInputs()} sde ${ctx.sourceDateEpoch}\n`;
    if ((await readFile(stamp, 'utf8').catch(() => '')) === inputs && existsSync(p.bootInitrd)) {
      ctx.log.info(`${p.bootInitrd} is up to date`);
      return;
    }
    await rm(stamp, { force: true });
    const tree = await mkdtemp(join(s.workdir, '.squashfs-boot-tree-'));
    await withCleanup(
      () => rm(tree, { recursive: true, force: true }),
      async () => {
        await writeSquashfsBootTree(tree);
        await buildInitrd(ctx, { ...boot, rootfsDir: tree, owner: { uid: 0, gid: 0 } });
      },
    );
    await writeFile(stamp, inputs);
  },
};

export const publish: Target = {
  name: 'publish',
  describe: 'push to a registry, load into podman, upload to S3',
  deps: (s) => publishDeps(s),
  settings: [],
  alwaysRun: true,
  outputs: () => [],
  validate: async (s) => (await import('./publish.js')).validatePublish(s),
  run: async (ctx, s) => (await import('./publish.js')).runPublishTarget(ctx, s),
};

export const TARGETS: ReadonlyMap<string, Target> = new Map([rootfs, image, initrd, kernel, boot, oci, bundle, squashfs, publish].map((t) => [t.name, t]));

/** Convenience groups, as Kata's `make all`. */
export const GROUPS: Readonly<Record<string, readonly string[]>> = { all: ['image', 'initrd'] };
