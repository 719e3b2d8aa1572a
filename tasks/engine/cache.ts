/**
 * The shared build cache: a target's outputs as an OCI artifact in a registry, tagged by the
 * target's inputs hash. --cache-to pushes after a build; --cache-from pulls (every digest checked
 * by the registry client) instead of building. A directory output is one tar layer (osb's tar
 * writer), a file output one blob; the layer's `org.osb.output` annotation is the output's index
 * in target.outputs().
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { InternalError, OsbError } from '../../lib/errors.js';
import { replaceDir, siblingMarkerFor } from '../../lib/atomic.js';
import type { Settings } from '../settings/table.js';
import type { Target } from './target.js';

export const CACHE_CONFIG_MEDIA = 'application/vnd.osb.cache.config.v1+json';
const OUTPUT_KEY = 'org.osb.output';

export const cacheTag = (target: Target, inputsHash: string) => `${target.name}-${inputsHash.replace(/^sha256:/, '').slice(0, 64)}`;

/** The cache's registry (--cache-to or --cache-from): set, or this is not called. */
function cacheRef(value: string | undefined, flag: string): string {
  if (value === undefined) throw new InternalError(`the build cache was used without ${flag}`);
  return value;
}

async function registryOf(ctx: BuildContext, s: Settings, value: string) {
  const { parseRegistryTarget } = await import('../../publish/registry.js');
  const { registryOptions } = await import('./registry-options.js');
  return registryOptions(ctx, s, parseRegistryTarget(value));
}

/** Push the target's outputs to --cache-to under its inputs-hash tag. */
export async function saveToCache(ctx: BuildContext, s: Settings, target: Target, inputsHash: string): Promise<void> {
  const { walkTree } = await import('../../oci-builder/tree.js');
  const { writeLayer } = await import('../../oci-builder/layer.js');
  const { readXattrs } = await import('../../oci-builder/xattrs.js');
  const { jsonBlob, MEDIA } = await import('../../oci-builder/image.js');
  const { sha256File } = await import('../../lib/hash.js');
  const { pushLayout } = await import('../../publish/layout.js');
  const tag = cacheTag(target, inputsHash);
  const layout = join(s.workdir, `.osb-cache-out-${target.name}`);
  await rm(layout, { recursive: true, force: true });
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  try {
    const layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[] = [];
    const diffIds: string[] = [];
    for (const [i, out] of target.outputs(s).entries()) {
      if (!existsSync(out)) continue;
      const { statSync } = await import('node:fs');
      if (statSync(out).isDirectory()) {
        const entries = walkTree(out, { sourceDateEpoch: ctx.sourceDateEpoch, warn: (m) => ctx.log.warn(m), signal: ctx.signal });
        // File capabilities and other xattrs travel with the tree (PAX SCHILY.xattr records).
        const xattrs = await readXattrs(ctx, out);
        for (const e of entries) if (e.kind !== 'hardlink' && xattrs.has(e.name)) e.xattrs = xattrs.get(e.name);
        const tmp = join(blobs, '.layer');
        const l = await writeLayer(ctx, entries, 'gzip', tmp);
        await rename(tmp, join(blobs, l.digest.slice(7)));
        layers.push({ mediaType: l.mediaType, digest: l.digest, size: l.size, annotations: { [OUTPUT_KEY]: String(i) } });
        diffIds.push(l.diffId);
      } else {
        const digest = `sha256:${await sha256File(out)}`;
        await copyFile(out, join(blobs, digest.slice(7)));
        layers.push({ mediaType: 'application/octet-stream', digest, size: statSync(out).size, annotations: { [OUTPUT_KEY]: String(i), 'org.opencontainers.image.title': basename(out) } });
        diffIds.push(digest);
      }
    }
    const config = jsonBlob({ target: target.name, inputsHash, rootfs: { type: 'layers', diff_ids: diffIds } });
    const manifest = jsonBlob({ schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: CACHE_CONFIG_MEDIA, config: { mediaType: CACHE_CONFIG_MEDIA, digest: config.digest, size: config.size }, layers });
    for (const b of [config, manifest]) await writeFile(join(blobs, b.digest.slice(7)), b.bytes);
    await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA.manifest, digest: manifest.digest, size: manifest.size }] }));
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const to = cacheRef(s.cacheTo, '--cache-to');
    const r = await pushLayout(layout, [tag], await registryOf(ctx, s, to));
    ctx.log.info(`cached ${target.name} as ${to}:${tag} (manifest ${r.digest}; ${r.stats.pushed} blobs uploaded, ${r.stats.skipped} already there)`);
  } finally {
    await rm(layout, { recursive: true, force: true });
  }
}

/**
 * An up-to-date target with --cache-to: HEAD its tag first, and push its outputs only when the
 * cache lacks them. Says which: "pushed to REF:TAG" or "already in REF:TAG".
 */
export async function shareUpToDate(ctx: BuildContext, s: Settings, target: Target, inputsHash: string): Promise<string> {
  const tag = cacheTag(target, inputsHash);
  const ref = cacheRef(s.cacheTo, '--cache-to');
  const to = `${ref}:${tag}`;
  const { RegistryClient } = await import('../../publish/registry.js');
  const client = new RegistryClient(await registryOf(ctx, s, ref));
  let there: string | undefined;
  try {
    there = await client.headManifest(tag);
  } finally {
    client.close();
  }
  if (there) return `already in ${to}`;
  await saveToCache(ctx, s, target, inputsHash);
  return `pushed to ${to}`;
}

/**
 * Pull the target's outputs from --cache-from. false when the cache has no artifact for these
 * inputs, or when one is refused (a digest that does not match): the caller builds, and the
 * reason has been said.
 */
export async function restoreFromCache(ctx: BuildContext, s: Settings, target: Target, inputsHash: string): Promise<boolean> {
  const { pullToLayout } = await import('../../publish/pull.js');
  const tag = cacheTag(target, inputsHash);
  const ref = cacheRef(s.cacheFrom, '--cache-from');
  const from = `${ref}:${tag}`;
  const layout = join(s.workdir, `.osb-cache-in-${target.name}`);
  try {
    const { goArch } = await import('../../oci-builder/image.js');
    const { hostArch } = await import('../../distros/index.js');
    await pullToLayout(await registryOf(ctx, s, ref), tag, layout, goArch(s.arch ?? hostArch()));
  } catch (e) {
    if (e instanceof OsbError && / 404 /.test(e.message) && /GET manifest/.test(e.message)) {
      ctx.log.info(`no cached ${target.name} at ${from}: building it`);
      return false;
    }
    ctx.log.warn(`cached ${target.name} at ${from} refused: ${(e as Error).message}; building it instead`);
    return false;
  }
  try {
    const { readFile } = await import('node:fs/promises');
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = (d: string) => join(layout, 'blobs', d.replace(':', '/'));
    const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), 'utf8')) as { config: { mediaType: string }; layers: { mediaType: string; digest: string; annotations?: Record<string, string> }[] };
    if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA) throw new OsbError(`${from} is not an osb cache artifact`);
    const outputs = target.outputs(s);
    for (const l of manifest.layers) {
      const out = outputs[Number(l.annotations?.[OUTPUT_KEY] ?? -1)];
      if (!out) throw new OsbError(`${from} holds an output osb does not know (${l.digest})`);
      await mkdir(dirname(out), { recursive: true });
      if (l.mediaType === 'application/octet-stream') {
        await copyFile(blob(l.digest), `${out}.osb-cache`);
        await rename(`${out}.osb-cache`, out);
      } else {
        const stage = join(dirname(out), `.${basename(out)}.osb-stage-${process.pid}`);
        await rm(stage, { recursive: true, force: true });
        await mkdir(stage, { mode: 0o755 });
        // A registry's blob is not trusted more than a parent's layer: checked member by member.
        const { extractTar } = await import('../../oci-builder/extract.js');
        try {
          await extractTar(ctx, blob(l.digest), stage, { what: `layer ${l.digest}`, whiteouts: false });
        } catch (e) {
          await rm(stage, { recursive: true, force: true });
          if (!(e instanceof OsbError)) throw e;
          ctx.log.warn(`cached ${target.name} at ${from} refused: ${e.message}; building it instead`);
          return false;
        }
        await writeFile(siblingMarkerFor(out), `created by osb; osb may replace ${basename(out)}\n`);
        await replaceDir(stage, out);
      }
    }
    ctx.log.info(`${target.name} pulled from ${from} instead of built (every digest checked)`);
    return true;
  } finally {
    await rm(layout, { recursive: true, force: true });
  }
}
