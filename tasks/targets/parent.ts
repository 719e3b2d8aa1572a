/**
 * --parent REF (osb.yaml `parent`): where the parent image comes from, made into a local OCI
 * layout, and what the rootfs and oci targets get from it. The builders know nothing of the CLI:
 * rootfs-builder gets a `base` to unpack, oci-builder the parent image and its recorded state.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { OsbError } from '../../lib/errors.js';
import { isRoot } from '../../lib/host.js';
import { parseParentRef, type ParentRef } from '../../oci-builder/reference.js';
import { registryOptions } from '../engine/registry-options.js';
import { cacheDir, parentPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

/** The local layout that holds the parent (a pulled or extracted copy in the workdir, or the oci: DIR). */
function layoutOf(s: Settings, p: ParentRef): string {
  return p.kind === 'oci' ? p.dir : parentPaths(s).layout;
}

/** Pull or extract the parent into the workdir (an oci: layout is read where it is). */
async function fetchParent(ctx: BuildContext, s: Settings, p: ParentRef): Promise<void> {
  const dest = parentPaths(s).layout;
  if (p.kind === 'docker') {
    const { pullToLayout } = await import('../../publish/pull.js');
    const { goArch } = await import('../../oci-builder/image.js');
    const { hostArch } = await import('../../distros/index.js');
    const r = await pullToLayout(await registryOptions(ctx, s, { host: p.host, repo: p.repo }), p.tag, dest, goArch(s.arch ?? hostArch()));
    ctx.log.info(`pulled ${p.ref} (manifest ${r.digest}, ${r.layers.length} layers, every digest checked)`);
  } else if (p.kind === 'oci-archive') {
    if (!existsSync(p.file)) throw new OsbError(`--parent ${p.ref}: ${p.file} does not exist`);
    await rm(dest, { recursive: true, force: true });
    await mkdir(dest, { recursive: true });
    // An OCI layout holds directories and regular files only; anything else is refused.
    const { extractTar } = await import('../../oci-builder/extract.js');
    await extractTar(ctx, p.file, dest, { what: `--parent ${p.ref}`, whiteouts: false, kinds: new Set(['dir', 'file']), owners: false });
    await checkBlobs(dest);
  } else if (p.kind === 'containers-storage') {
    // skopeo reads the local store (as buildah from does) into a layout; the layout is then checked like any other.
    await rm(dest, { recursive: true, force: true });
    // A short name is looked up as buildah does for what it committed itself: localhost/NAME.
    const image = p.image.includes('/') ? p.image : `localhost/${p.image}`;
    const r = await ctx.run(['skopeo', 'copy', '--quiet', `containers-storage:${image}`, `oci:${dest}`], { allowFail: true });
    if (r.exitCode !== 0) throw new OsbError(`--parent ${p.ref}: the local container store has no image ${p.image}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`, 'podman images lists what it holds (publish_local puts an image there)');
    await checkBlobs(dest);
  } else {
    await checkBlobs(p.dir);
  }
}

/** Every blob of the layout's image has the sha256 its name says (a layout on disk is not trusted more than a registry). */
async function checkBlobs(layoutDir: string): Promise<void> {
  const { readParentLayout } = await import('../../oci-builder/parent.js');
  const { sha256File } = await import('../../lib/hash.js');
  const img = await readParentLayout(layoutDir);
  for (const l of img.layers) {
    const got = await sha256File(join(layoutDir, 'blobs', l.digest.replace(':', '/'))).catch(() => 'missing');
    if (`sha256:${got}` !== l.digest) throw new OsbError(`parent layer ${l.digest} in ${layoutDir} is ${got === 'missing' ? 'missing' : `sha256:${got}`}`, 'the layout is damaged; write or pull it again');
  }
}

/** Bump when how a parent is unpacked or its state recorded changes. */
const UNPACK_RECIPE = 'parent-v1';

/**
 * RootfsOptions.base for the rootfs target: the parent unpacked once per image into
 * CACHE/base/parent-KEY16 (with the state of its tree), and read from there by every later build
 * of the same image. The key is what names the image's bytes: the manifest digest (every blob
 * checked against its digest when fetched), or for an oci-archive the sha256 of the archive, so
 * that a cached archive is not even extracted again. Whether osb ran as root is in the key too:
 * only root keeps the layers' owners.
 */
export function parentBase(s: Settings): { describe: string; tree(ctx: BuildContext, seal?: 'now' | 'later'): Promise<string> } | undefined {
  if (!s.parent) return undefined;
  const p = parseParentRef(s.parent);
  return {
    describe: `parent ${p.ref}`,
    async tree(ctx, seal = 'now') {
      const { readParentLayout, unpackParent } = await import('../../oci-builder/parent.js');
      const { hashValue, rememberedSha256 } = await import('../../lib/hash.js');
      const { ensureCachedTree } = await import('../../lib/tree-cache.js');
      const tag = p.kind === 'oci' ? p.tag : undefined;
      const entryFor = (names: Record<string, string>) => {
        const key = hashValue({ recipe: UNPACK_RECIPE, ...names, root: isRoot() });
        return { key, dir: join(cacheDir(s), 'base', `parent-${key.slice(0, 16)}`) };
      };
      let entry = p.kind === 'oci-archive' && existsSync(p.file) ? entryFor({ archive: await rememberedSha256(p.file, join(cacheDir(s), 'base', 'archive-sha256.json')) }) : undefined;
      if (!entry || !existsSync(join(entry.dir, '.complete'))) await fetchParent(ctx, s, p);
      let image: Awaited<ReturnType<typeof readParentLayout>> | undefined;
      if (!entry) {
        image = await readParentLayout(layoutOf(s, p), tag);
        entry = entryFor({ manifest: image.manifestDigest });
      }
      const dir = await ensureCachedTree(ctx, entry, `parent ${p.ref}, unpacked,`, async (tmp) => {
        const tree = join(tmp, 'rootfs');
        await ensureParentLayout(ctx, s); // an entry made again (its seal broken) was not fetched above
        await mkdir(tree, { mode: 0o755 });
        await chmod(tree, 0o755); // the guest's /, whatever the umask
        image ??= await readParentLayout(layoutOf(s, p), tag);
        await unpackParent(ctx, image, tree, join(tmp, 'state.json'));
      }, 2, 'rootfs', seal);
      await copyFile(join(dir, 'state.json'), parentPaths(s).state);
      return join(dir, 'rootfs');
    },
  };
}

/** OciOptions.parent for the oci target. */
export async function parentForOci(s: Settings) {
  if (!s.parent) return undefined;
  const p = parseParentRef(s.parent);
  const { readParentLayout } = await import('../../oci-builder/parent.js');
  const stateFile = parentPaths(s).state;
  if (!existsSync(stateFile)) throw new OsbError(`the rootfs was not built on --parent ${p.ref} (${stateFile} is missing)`, 'run osb rootfs with the same --parent first (or drop --no-deps)');
  return { image: await readParentLayout(layoutOf(s, p), p.kind === 'oci' ? p.tag : undefined), stateFile };
}

/**
 * The oci target reads the parent's layers: fetch them again when the rootfs did not (it came from
 * --cache-from, or the pulled copy was removed).
 */
export async function ensureParentLayout(ctx: BuildContext, s: Settings): Promise<void> {
  if (!s.parent) return;
  const p = parseParentRef(s.parent);
  if (p.kind !== 'oci' && !existsSync(join(layoutOf(s, p), 'index.json'))) await fetchParent(ctx, s, p);
}
