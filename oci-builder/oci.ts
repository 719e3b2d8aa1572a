/**
 * `osb oci`: the rootfs as a one-layer OCI image, as an image layout directory and as an
 * oci-archive (and optionally a docker-archive), with digests fixed by the inputs.
 *
 * walk + getfattr -> layer (tar -> diff_id, compress -> digest) -> config, manifest, index in a
 * staged layout -> archives (atomic) -> layout renamed into place.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { writeAtomic } from '../lib/atomic.js';
import type { BuildContext } from '../lib/context.js';
import { dockerManifest, writeLayoutArchive } from './archive.js';
import { TOOLBOX_LABEL, imageDocuments } from './image.js';
import { compressorArgv, parseLayerCompression, writeLayer, type LayerCompression } from './layer.js';
import { copyParentLayers, diffEntries, type ParentImage } from './parent.js';
import { parseReference } from './reference.js';
import { checkRootfs, writeDirAtomic } from './stage.js';
import { walkTree, type TarEntry } from './tree.js';
import { readXattrs } from './xattrs.js';

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface OciOptions {
  /** The rootfs tree; only read. */
  readonly rootfsDir: string;
  /** The OCI image layout directory (e.g. `workdir/osb-oci`). */
  readonly layoutDir: string;
  /** The oci-archive tarball (e.g. `workdir/osb-oci.tar`). */
  readonly archivePath: string;
  /** Also write a docker-archive here (for `docker load`). @default none */
  readonly dockerArchivePath?: string;
  /** NAME[:TAG], written as org.opencontainers.image.ref.name. */
  readonly ref: string;
  /** @default 'gzip' */
  readonly compression?: LayerCompression;
  /** Architecture of the rootfs, uname -m style (x86_64, aarch64). */
  readonly arch: string;
  /**
   * The rootfs was unpacked from this parent (oci-builder/parent.ts) and its state recorded in
   * stateFile: the image is the parent's layers unchanged plus one layer of the difference.
   */
  readonly parent?: { readonly image: ParentImage; readonly stateFile: string };
  /** The image's Cmd: the agent, or /sbin/init. */
  readonly cmd: readonly string[];
  /** @default [DEFAULT_PATH_ENV] */
  readonly env?: readonly string[];
  /** User labels (config) and annotations (manifest), KEY -> VALUE; they win over osb's own. @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Add toolbox's label so `toolbox create --image` accepts the image. @default false */
  readonly toolbox?: boolean;
  /** org.opencontainers.image.{source,revision}, where known. @default unset */
  readonly source?: string;
  readonly revision?: string;
}

export interface OciResult {
  readonly manifestDigest: string;
  readonly layerDigest: string;
  readonly diffId: string;
  readonly entries: number;
  readonly ref: string;
}

/** KEY=VALUE pairs (--label, --annotation): the grammar is reference.ts's. */
export { parseKeyValues } from './reference.js';

/** Attach the xattrs getfattr found to their entries. */
function attachXattrs(entries: TarEntry[], xattrs: Map<string, Map<string, Buffer>>): void {
  if (xattrs.size === 0) return;
  for (const e of entries) {
    const x = xattrs.get(e.name);
    if (x && e.kind !== 'hardlink') e.xattrs = x;
  }
}

export async function buildOci(ctx: BuildContext, opts: OciOptions): Promise<OciResult | undefined> {
  const ref = parseReference(opts.ref);
  const compression = parseLayerCompression(opts.compression ?? 'gzip');
  const outputs = [opts.layoutDir, opts.archivePath, ...(opts.dockerArchivePath ? [opts.dockerArchivePath] : [])];
  const created = new Date(ctx.sourceDateEpoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const known: Record<string, string> = { 'org.opencontainers.image.created': created, 'org.opencontainers.image.version': ref.tag };
  if (opts.source) known['org.opencontainers.image.source'] = opts.source;
  if (opts.revision) known['org.opencontainers.image.revision'] = opts.revision;
  const labels = { ...known, ...(opts.toolbox ? { [TOOLBOX_LABEL]: 'true' } : {}), ...opts.labels };
  const annotations = { ...known, ...opts.annotations };
  if (ctx.dryRun) {
    ctx.log.info(`would write ${outputs.join(', ')}: OCI image ${ref.full} of ${opts.rootfsDir}, one ${compression} layer`);
    const argv = compressorArgv(compression, join(opts.layoutDir, 'blobs', 'sha256', 'LAYER'));
    if (argv) await ctx.run.feed(argv, () => Readable.from([]));
    return undefined;
  }
  checkRootfs(opts.rootfsDir, outputs);
  let entries = walkTree(opts.rootfsDir, { sourceDateEpoch: ctx.sourceDateEpoch, warn: (m) => ctx.log.warn(m), signal: ctx.signal });
  // Before the diff: a hook that only sets a capability changes the entry.
  attachXattrs(entries, await readXattrs(ctx, opts.rootfsDir));
  if (opts.parent) {
    const state = JSON.parse(await readFile(opts.parent.stateFile, 'utf8')) as Record<string, string>;
    entries = diffEntries(entries, opts.rootfsDir, state, ctx.sourceDateEpoch);
  }
  ctx.log.info(`writing the ${compression} layer of ${entries.length} entries of ${opts.rootfsDir}`);
  return writeDirAtomic(opts.layoutDir, async (stage) => {
    const blobs = join(stage, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const layerTmp = join(blobs, '.layer');
    const layer = await writeLayer(ctx, entries, compression, layerTmp);
    await rename(layerTmp, join(blobs, layer.digest.slice(7)));
    const p = opts.parent?.image;
    if (p) await copyParentLayers(p, blobs);
    const parentLayers = p && { layers: p.layers, diffIds: p.config.rootfs?.diff_ids ?? [], history: p.config.history ?? [] };
    const docs = imageDocuments(layer, { arch: opts.arch, created, cmd: opts.cmd, env: opts.env ?? [DEFAULT_PATH_ENV], labels, annotations, refName: ref.full }, parentLayers);
    for (const b of [docs.config, docs.manifest]) await writeFile(join(blobs, b.digest.slice(7)), b.bytes);
    await writeFile(join(stage, 'index.json'), docs.index);
    await writeFile(join(stage, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const archive = { layoutDir: stage, sourceDateEpoch: ctx.sourceDateEpoch, signal: ctx.signal };
    await writeAtomic(opts.archivePath, (tmp) => writeLayoutArchive({ ...archive, output: tmp }));
    if (opts.dockerArchivePath) {
      const extra = { 'manifest.json': dockerManifest(docs.config.digest, [...(p?.layers ?? []).map((l) => l.digest), layer.digest], ref.full) };
      await writeAtomic(opts.dockerArchivePath, (tmp) => writeLayoutArchive({ ...archive, output: tmp, extra }));
    }
    ctx.log.info(`wrote ${ref.full}: manifest ${docs.manifest.digest}, layer ${layer.size} bytes (${layer.tarBytes} bytes of tar, ${layer.entries} entries)`);
    return { manifestDigest: docs.manifest.digest, layerDigest: layer.digest, diffId: layer.diffId, entries: layer.entries, ref: ref.full };
  });
}
