/**
 * A multi-platform image: one OCI image index naming the image `osb oci` built for each
 * architecture (each in a layout of its own), as one image layout and one oci-archive. The
 * index.json of the layout names the index, as `skopeo copy --all` and buildah's manifest push
 * leave it; each image's platform is the one its own config says.
 */
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../lib/atomic.js';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import { DIGEST, parseJsonObject, readJsonFile } from '../lib/foreign.js';
import { writeLayoutArchive } from './archive.js';
import { MEDIA, REF_NAME, jsonBlob } from './image.js';
import { parseReference } from './reference.js';
import { writeDirAtomic } from './stage.js';

export interface IndexLayoutOptions {
  /** The image layouts, one an architecture, in the order the index lists them. */
  readonly images: readonly string[];
  /** The layout of the index (e.g. `workdir/osb-oci`). */
  readonly layoutDir: string;
  /** Its oci-archive (e.g. `workdir/osb-oci.tar`). */
  readonly archivePath: string;
  /** NAME[:TAG], the index's org.opencontainers.image.ref.name. */
  readonly ref: string;
}

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

interface Image {
  readonly layout: string;
  readonly descriptor: { mediaType: string; digest: string; size: number };
  readonly platform: Platform;
  /** Every blob of the image: layers, config, manifest. */
  readonly blobs: readonly string[];
}

const blobPath = (layout: string, digest: string) => join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));

/** The image an `osb oci` layout names, its platform from its config, and its blobs. */
async function readImage(layout: string): Promise<Image> {
  const again = `the image in ${layout} is not whole: run \`osb oci --force\` for its architecture`;
  const index = await readJsonFile<{ manifests?: { mediaType?: string; digest?: string; size?: number }[] }>(join(layout, 'index.json'), `the index of OCI layout ${layout}`, again);
  const d = Array.isArray(index.manifests) ? index.manifests[0] : undefined;
  if (!d || typeof d.digest !== 'string' || !DIGEST.test(d.digest) || d.mediaType !== MEDIA.manifest) throw new OsbError(`${layout}/index.json names no OCI image manifest`, again);
  const bytes = await readFile(blobPath(layout, d.digest)).catch(() => {
    throw new OsbError(`manifest ${d.digest} of ${layout} is missing`, again);
  });
  const m = parseJsonObject<{ config?: { digest?: string }; layers?: { digest?: string }[] }>(bytes, `manifest ${d.digest} of ${layout}`, again);
  const digests = [...(m.layers ?? []).map((l) => l.digest), m.config?.digest];
  if (!digests.every((x): x is string => typeof x === 'string' && DIGEST.test(x))) throw new OsbError(`manifest ${d.digest} of ${layout} names a blob that is not a sha256 digest`, again);
  const configBytes = await readFile(blobPath(layout, m.config!.digest!)).catch(() => {
    throw new OsbError(`the config ${m.config!.digest!} of ${layout} is missing`, again);
  });
  const config = parseJsonObject<{ architecture?: unknown; os?: unknown; variant?: unknown }>(configBytes, `the config of ${layout}`, again);
  if (typeof config.architecture !== 'string' || typeof config.os !== 'string') throw new OsbError(`the config of ${layout} names no architecture and os`, again);
  const platform: Platform = { architecture: config.architecture, os: config.os, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
  return { layout, descriptor: { mediaType: MEDIA.manifest, digest: d.digest, size: bytes.length }, platform, blobs: [...digests, d.digest] };
}

const platformName = (p: Platform) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

/**
 * Write the index layout and its archive; when the layout already holds this index, nothing is
 * written. Returns the index's digest and each image's platform and digest.
 */
export async function buildIndexLayout(ctx: BuildContext, o: IndexLayoutOptions): Promise<{ digest: string; images: readonly { platform: string; digest: string }[] }> {
  const ref = parseReference(o.ref);
  if (ctx.dryRun) {
    ctx.log.info(`would write ${o.layoutDir} and ${o.archivePath}: the image index ${ref.full} of ${o.images.join(', ')}`);
    return { digest: '', images: [] };
  }
  const images = await Promise.all(o.images.map(readImage));
  const names = images.map((i) => platformName(i.platform));
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new OsbError(`two of the images are for ${twice}: ${images.filter((i) => platformName(i.platform) === twice).map((i) => i.layout).join(', ')}`, 'give each architecture once in --arch');
  const index = jsonBlob({ schemaVersion: 2, mediaType: MEDIA.index, manifests: images.map((i) => ({ ...i.descriptor, platform: i.platform })) });
  const top = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ mediaType: MEDIA.index, digest: index.digest, size: index.size, annotations: { [REF_NAME]: ref.full } }] }));
  const result = { digest: index.digest, images: images.map((i, n) => ({ platform: names[n]!, digest: i.descriptor.digest })) };
  const same = existsSync(o.archivePath) && existsSync(blobPath(o.layoutDir, index.digest)) && (await readFile(join(o.layoutDir, 'index.json')).catch(() => Buffer.alloc(0))).equals(top);
  if (same) {
    ctx.log.info(`${ref.full}: index ${index.digest} of ${names.join(', ')} is up to date`);
    return result;
  }
  await writeDirAtomic(o.layoutDir, async (stage) => {
    const blobs = join(stage, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    // The blobs are the images' own, never rewritten in place (osb oci replaces a layout whole): linked where it can.
    for (const i of images) {
      for (const b of i.blobs) {
        const to = blobPath(stage, b);
        if (existsSync(to)) continue;
        await link(blobPath(i.layout, b), to).catch(() => copyFile(blobPath(i.layout, b), to));
      }
    }
    await writeFile(blobPath(stage, index.digest), index.bytes);
    await writeFile(join(stage, 'index.json'), top);
    await writeFile(join(stage, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeAtomic(o.archivePath, (tmp) => writeLayoutArchive({ layoutDir: stage, output: tmp, sourceDateEpoch: ctx.sourceDateEpoch, signal: ctx.signal }));
  });
  ctx.log.info(`wrote ${ref.full}: index ${index.digest} of ${names.join(', ')}`);
  return result;
}
