/**
 * A parent image as the base of a rootfs, and the one layer a child adds on top of it.
 *
 * Unpacking: each layer in order, by extract.ts, which checks every member before it writes any
 * and never writes through a symlink: a parent comes from someone else's registry. Its whiteouts
 * apply to the layers below (`D/.wh.NAME` removes D/NAME, `D/.wh..wh..opq` empties D).
 *
 * The state of the unpacked tree (kind, mode, owner, size, link target, device, sha256 of file
 * data) is recorded beside it; the child's layer holds every entry that is new or differs from
 * that record, the directories above them, and a whiteout for each name that is gone.
 */
import { createHash } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import { byCodePoint } from '../lib/order.js';
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

/**
 * The single-platform image of an OCI layout (index.json's entry tagged `tag`, else the first).
 * The layout is someone else's: a missing or damaged document, or a digest that is not
 * sha256:HEX (it becomes a file name), is one line naming the layout and the document.
 */
export async function readParentLayout(layoutDir: string, tag?: string): Promise<ParentImage> {
  const { DIGEST, readJsonFile } = await import('../lib/foreign.js');
  const { existsSync } = await import('node:fs');
  const damaged = 'the parent layout is damaged or incomplete: write, copy or pull it again';
  if (!existsSync(join(layoutDir, 'index.json'))) throw new OsbError(`${layoutDir} is not an OCI image layout (no index.json)`, 'give --parent oci:DIR[:TAG], oci-archive:FILE or docker://HOST/REPO:TAG');
  const index = await readJsonFile<{ manifests?: unknown }>(join(layoutDir, 'index.json'), `the index of OCI layout ${layoutDir}`, damaged);
  const all = (Array.isArray(index.manifests) ? index.manifests : []) as (LayoutDescriptor & { annotations?: Record<string, string> })[];
  const refName = (m: { annotations?: Record<string, string> }) => (typeof m?.annotations === 'object' ? m.annotations?.['org.opencontainers.image.ref.name'] : undefined);
  const top = tag ? all.find((m) => refName(m)?.replace(/^.*:/, '') === tag || refName(m) === tag) : all[0];
  if (!top) throw new OsbError(`${layoutDir} has no image${tag ? ` tagged ${tag}` : ''}`);
  const checked = (d: LayoutDescriptor | undefined, what: string): LayoutDescriptor => {
    if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest)) throw new OsbError(`${layoutDir}: ${what} names digest ${JSON.stringify(d?.digest ?? null).slice(0, 80)}, not sha256: and 64 hex digits`, damaged);
    return d;
  };
  const blob = (d: LayoutDescriptor, what: string) => readJsonFile<Record<string, unknown>>(blobPath(layoutDir, d.digest), `${what} ${d.digest} of OCI layout ${layoutDir}`, damaged);
  const manifest = (await blob(checked(top, 'index.json'), 'the manifest')) as { config?: LayoutDescriptor; layers?: LayoutDescriptor[] };
  if (!manifest.config || !Array.isArray(manifest.layers)) throw new OsbError(`${layoutDir}: ${top.digest} is not a single-platform image manifest`);
  const layers = manifest.layers.map((l, i) => checked(l, `layer ${i + 1} of the manifest`));
  const config = (await blob(checked(manifest.config, 'the manifest\'s config'), 'the config')) as ParentImage['config'];
  const diffIds = Array.isArray(config.rootfs?.diff_ids) ? config.rootfs!.diff_ids!.length : 0;
  if (diffIds !== layers.length) throw new OsbError(`${layoutDir}: the config lists ${diffIds} diff_ids for ${layers.length} layers`);
  return { layoutDir, manifestDigest: top.digest, layers, config };
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

// The path as bytes: a name that is not UTF-8 must reach the file system unchanged.
const hashOf = (root: string, name: string) => () => createHash('sha256').update(readFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from(name, 'latin1')]))).digest('hex');

/** Unpack the parent's layers into `dest` (which must exist, empty) and record its state in `stateFile`. */
export async function unpackParent(ctx: BuildContext, parent: ParentImage, dest: string, stateFile: string): Promise<void> {
  const { extractTar } = await import('./extract.js');
  for (const [i, l] of parent.layers.entries()) {
    const r = await extractTar(ctx, blobPath(parent.layoutDir, l.digest), dest, { what: `parent layer ${l.digest}`, whiteouts: true });
    ctx.log.info(`unpacked parent layer ${i + 1}/${parent.layers.length} ${l.digest}${r.whiteouts ? ` (${r.whiteouts} whiteouts applied)` : ''}`);
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
  return out.sort((a, b) => byCodePoint(a.name, b.name));
}

/** Copy the parent's layer blobs into the child's layout (same bytes, same digests). */
export async function copyParentLayers(parent: ParentImage, blobsDir: string): Promise<void> {
  for (const l of parent.layers) await copyFile(blobPath(parent.layoutDir, l.digest), join(blobsDir, l.digest.slice('sha256:'.length)));
}
