/**
 * A parent image as the base of a rootfs, and the one layer a child adds on top of it.
 *
 * Unpacking: each layer in order, as root, with GNU tar (it already reads every tar a registry
 * serves: PAX and GNU long names, xattrs as SCHILY.xattr, device nodes, hard links, gzip and
 * zstd, and keeps numeric owners and modes). tar knows nothing of OCI whiteouts, so before a layer
 * is extracted its listing is read and its whiteouts are applied to the layers below
 * (`D/.wh.NAME` removes D/NAME, `D/.wh..wh..opq` empties D), then the layer is extracted without
 * its `.wh.*` entries.
 *
 * The state of the unpacked tree (kind, mode, owner, size, link target, device, sha256 of file
 * data) is recorded beside it; the child's layer holds every entry that is new or differs from
 * that record, the directories above them, and a whiteout for each name that is gone.
 */
import { createHash } from 'node:crypto';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import { walkTree, type TarEntry } from './tree.js';
import { readXattrs } from './xattrs.js';

export interface LayoutDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface ParentImage {
  readonly layoutDir: string;
  readonly manifestDigest: string;
  readonly layers: readonly LayoutDescriptor[];
  /** The parent's config document, parsed. */
  readonly config: { rootfs?: { diff_ids?: string[] }; history?: unknown[]; config?: Record<string, unknown> };
}

const blobPath = (layoutDir: string, digest: string) => join(layoutDir, 'blobs', digest.replace(':', '/'));

/** The single-platform image of an OCI layout (index.json's entry tagged `tag`, else the first). */
export async function readParentLayout(layoutDir: string, tag?: string): Promise<ParentImage> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8').catch(() => {
    throw new OsbError(`${layoutDir} is not an OCI image layout (no index.json)`, 'give --parent oci:DIR[:TAG], oci-archive:FILE or docker://HOST/REPO:TAG');
  })) as { manifests?: (LayoutDescriptor & { annotations?: Record<string, string> })[] };
  const all = index.manifests ?? [];
  const top = tag ? all.find((m) => m.annotations?.['org.opencontainers.image.ref.name']?.replace(/^.*:/, '') === tag || m.annotations?.['org.opencontainers.image.ref.name'] === tag) : all[0];
  if (!top) throw new OsbError(`${layoutDir} has no image${tag ? ` tagged ${tag}` : ''}`);
  const manifest = JSON.parse(await readFile(blobPath(layoutDir, top.digest), 'utf8')) as { config?: LayoutDescriptor; layers?: LayoutDescriptor[] };
  if (!manifest.config || !manifest.layers) throw new OsbError(`${layoutDir}: ${top.digest} is not a single-platform image manifest`);
  const config = JSON.parse(await readFile(blobPath(layoutDir, manifest.config.digest), 'utf8')) as ParentImage['config'];
  if ((config.rootfs?.diff_ids?.length ?? -1) !== manifest.layers.length) throw new OsbError(`${layoutDir}: the config lists ${config.rootfs?.diff_ids?.length ?? 0} diff_ids for ${manifest.layers.length} layers`);
  return { layoutDir, manifestDigest: top.digest, layers: manifest.layers, config };
}

/** Entry signature without mtime (osb clamps mtimes, so they say nothing about change). */
function signature(e: TarEntry, fileHash: () => string, xattrs = e.xattrs): string {
  const x = xattrs?.size ? ` xattrs ${[...xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',')}` : '';
  return plainSignature(e, fileHash) + x;
}

function plainSignature(e: TarEntry, fileHash: () => string): string {
  const base = `${e.kind} ${e.mode.toString(8)} ${e.uid}:${e.gid}`;
  switch (e.kind) {
    case 'file':
    case 'hardlink':
      return `file ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.size} ${fileHash()}`;
    case 'symlink':
      return `${base} ${e.target!.toString('hex')}`;
    case 'char':
    case 'block':
      return `${base} ${e.devMajor},${e.devMinor}`;
    default:
      return base;
  }
}

const hashOf = (root: string, name: string) => () => createHash('sha256').update(readFileSync(join(root, Buffer.from(name, 'latin1').toString()))).digest('hex');

/** Apply one layer's whiteouts to `dest`, given the layer's listing (names as tar prints them). */
export async function applyWhiteouts(dest: string, names: readonly string[]): Promise<number> {
  let n = 0;
  for (const raw of names) {
    const name = raw.replace(/^\.\//, '').replace(/\/$/, '');
    const base = posix.basename(name);
    if (!base.startsWith('.wh.')) continue;
    const dir = posix.dirname(name);
    if (name.split('/').some((c) => c === '..')) throw new OsbError(`parent layer names '${raw}', which leaves the tree`);
    if (base === '.wh..wh..opq') {
      const here = join(dest, dir);
      for (const child of await readdir(here).catch(() => [] as string[])) await rm(join(here, child), { recursive: true, force: true });
    } else {
      await rm(join(dest, dir, base.slice(4)), { recursive: true, force: true });
    }
    n++;
  }
  return n;
}

/**
 * GNU tar follows a symlink it meets in the middle of a name. A lower layer's `lib -> /usr/lib`
 * (or `x -> ../../..`) would make an upper layer's `lib/evil` land outside `dest`, on the host:
 * refuse a layer that writes through a symlink leading out of the tree.
 */
export function checkNoEscape(dest: string, names: readonly string[]): void {
  const seen = new Map<string, boolean>();
  const escapes = (prefix: string): boolean => {
    let v = seen.get(prefix);
    if (v === undefined) {
      v = false;
      try {
        if (lstatSync(join(dest, prefix)).isSymbolicLink()) {
          const t = readlinkSync(join(dest, prefix));
          v = t.startsWith('/') || posix.normalize(posix.join(posix.dirname(prefix), t)).startsWith('..');
        }
      } catch {
        v = false;
      }
      seen.set(prefix, v);
    }
    return v;
  };
  for (const raw of names) {
    const parts = raw.replace(/^\.\//, '').replace(/\/$/, '').split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (escapes(prefix)) throw new OsbError(`parent layer entry '${raw}' goes through the symlink ${prefix} -> ${readlinkSync(join(dest, prefix))}, which leads out of the tree`, 'osb does not unpack such a parent: it would write on this host');
    }
  }
}

/** Unpack the parent's layers into `dest` (which must exist, empty) and record its state in `stateFile`. */
export async function unpackParent(ctx: BuildContext, parent: ParentImage, dest: string, stateFile: string): Promise<void> {
  for (const [i, l] of parent.layers.entries()) {
    const file = blobPath(parent.layoutDir, l.digest);
    const listing = await ctx.run(['tar', '-tf', file], { quiet: true, readOnly: true });
    const names = listing.stdout.split('\n').filter(Boolean);
    checkNoEscape(dest, names);
    const whiteouts = await applyWhiteouts(dest, names);
    await ctx.run(['tar', '-xf', file, '-C', dest, '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', '--exclude=.wh.*'], { quiet: true });
    ctx.log.info(`unpacked parent layer ${i + 1}/${parent.layers.length} ${l.digest}${whiteouts ? ` (${whiteouts} whiteouts applied)` : ''}`);
  }
  await writeFile(stateFile, JSON.stringify(treeState(dest, ctx, await readXattrs(ctx, dest))));
}

/** name -> signature of every entry of the tree (xattrs as getfattr found them, when given). */
export function treeState(root: string, ctx: Pick<BuildContext, 'sourceDateEpoch' | 'log' | 'signal'>, xattrs?: ReadonlyMap<string, ReadonlyMap<string, Buffer>>): Record<string, string> {
  const state: Record<string, string> = {};
  for (const e of walkTree(root, { sourceDateEpoch: ctx.sourceDateEpoch, warn: (m) => ctx.log.warn(m), signal: ctx.signal })) {
    // As buildOci attaches them: a hard link's xattrs are its first name's.
    const x = e.kind === 'hardlink' ? undefined : xattrs?.get(e.name);
    state[e.name] = signature(e, hashOf(root, e.name), x);
  }
  return state;
}

/**
 * The entries of the child's layer: what is new or changed since `state`, the directories above
 * them, and whiteouts (`.wh.NAME`, empty regular files) for names that are gone.
 */
export function diffEntries(entries: readonly TarEntry[], root: string, state: Readonly<Record<string, string>>, sourceDateEpoch: number): TarEntry[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const keep = new Set<string>();
  const add = (name: string) => {
    if (keep.has(name)) return;
    keep.add(name);
    const e = byName.get(name)!;
    if (e.kind === 'hardlink' && e.linkTo) add(e.linkTo);
    for (let d = posix.dirname(name); d !== '.'; d = posix.dirname(d)) keep.add(d);
  };
  for (const e of entries) {
    const was = state[e.name];
    if (was === undefined || was !== signature(e, hashOf(root, e.name))) add(e.name);
  }
  const out = entries.filter((e) => keep.has(e.name));
  for (const name of Object.keys(state)) {
    if (byName.has(name)) continue;
    const dir = posix.dirname(name);
    // Only the top of a removed subtree, and nothing under a name that is no longer a directory.
    if (dir !== '.' && (state[dir] !== undefined && !byName.has(dir))) continue;
    if (dir !== '.' && byName.get(dir)?.kind !== 'dir') continue;
    const wh = dir === '.' ? `.wh.${posix.basename(name)}` : `${dir}/.wh.${posix.basename(name)}`;
    for (let d = dir; d !== '.'; d = posix.dirname(d)) if (!keep.has(d)) { keep.add(d); out.push(byName.get(d)!); }
    out.push({ name: wh, kind: 'file', mode: 0o644, uid: 0, gid: 0, mtime: sourceDateEpoch, size: 0, devMajor: 0, devMinor: 0 });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Copy the parent's layer blobs into the child's layout (same bytes, same digests). */
export async function copyParentLayers(parent: ParentImage, blobsDir: string): Promise<void> {
  for (const l of parent.layers) await copyFile(blobPath(parent.layoutDir, l.digest), join(blobsDir, l.digest.slice('sha256:'.length)));
}
