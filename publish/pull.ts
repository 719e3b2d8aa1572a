/**
 * Pull an image from a registry into an OCI image layout (the parent of a `--parent` build), with
 * the registry client: the manifest, then the config and every layer, each checked against its
 * digest before it is written. Nothing lands in the layout unless every digest matched.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OsbError } from '../lib/errors.js';
import { DIGEST, parseJsonObject } from '../lib/foreign.js';
import { RegistryClient, type Descriptor, type PushOptions } from './registry.js';

export interface PulledImage {
  readonly digest: string;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** An image's platform as OCI names it (linux is implied): amd64, arm64 with variant v8, ... */
export interface Platform {
  readonly architecture: string;
  readonly variant?: string;
}

/** Most entries osb reads from a foreign index. */
const MAX_INDEX = 256;

/**
 * The manifest of `platform` from an index (or the manifest itself when `ref` names one image),
 * fetched by its digest so its bytes are checked against what the index names.
 */
async function manifestFor(client: RegistryClient, o: PushOptions, ref: string, platform: Platform | undefined): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
  const m = await client.pullManifest(ref, { index: true });
  const doc = parseJsonObject<{ manifests?: unknown }>(m.bytes, `manifest ${o.host}/${o.repo}:${ref}`);
  if (!Array.isArray(doc.manifests)) return m;
  type Entry = { digest?: unknown; mediaType?: unknown; platform?: { os?: unknown; architecture?: unknown; variant?: unknown } };
  const entries = (doc.manifests as Entry[]).slice(0, MAX_INDEX).filter((e) => typeof e?.digest === 'string' && DIGEST.test(e.digest) && e.platform && typeof e.platform === 'object');
  const named = (e: Entry) => `${String(e.platform!.os)}/${String(e.platform!.architecture)}${e.platform!.variant ? `/${String(e.platform!.variant)}` : ''}`.slice(0, 60);
  const want = platform ?? { architecture: 'amd64' };
  const fits = entries.filter((e) => e.platform!.os === 'linux' && e.platform!.architecture === want.architecture);
  // A variant given by both must agree; an index without variants (common for arm64) still fits.
  const pick = fits.find((e) => e.platform!.variant === want.variant) ?? fits.find((e) => e.platform!.variant === undefined || want.variant === undefined);
  if (!pick) throw new OsbError(`${o.host}/${o.repo}:${ref} is a multi-platform image without linux/${want.architecture}${want.variant ? `/${want.variant}` : ''} (it has ${entries.map(named).join(', ') || 'no platform'})`, 'give --arch one of those, or the digest of one platform\'s image');
  const one = await client.pullManifest(pick.digest as string);
  return one;
}

/**
 * Pull `ref` of the client's repository into layoutDir (created fresh); every digest verified.
 * A multi-platform `ref` gives the image of `platform` (default linux/amd64).
 */
export async function pullToLayout(o: PushOptions, ref: string, layoutDir: string, platform?: Platform): Promise<PulledImage> {
  const client = new RegistryClient({ ...o, access: 'pull' });
  const part = `${layoutDir}.part`;
  try {
    await client.ping();
    const m = await manifestFor(client, o, ref, platform);
    // pullManifest checked that the bytes are a JSON object; its fields are checked here.
    const manifest = parseJsonObject<{ config?: Descriptor; layers?: Descriptor[]; manifests?: unknown[] }>(m.bytes, `manifest ${o.host}/${o.repo}:${ref}`);
    if (manifest.manifests || !manifest.config || !Array.isArray(manifest.layers)) throw new OsbError(`${o.host}/${o.repo}:${ref} is not a single-platform image manifest`, 'give the tag or digest of one platform\'s image');
    const descriptors = [manifest.config, ...manifest.layers];
    for (const d of descriptors) {
      const digest = typeof d === 'object' && d !== null ? (d as { digest?: unknown }).digest : d;
      if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new OsbError(`${o.host}/${o.repo}:${ref} names blob ${JSON.stringify(digest ?? null).slice(0, 80)}, not a sha256 digest`, 'the registry holds a manifest osb cannot use; push the image again');
      if (!Number.isSafeInteger(d.size) || d.size < 0) throw new OsbError(`${o.host}/${o.repo}:${ref} gives blob ${digest} the size ${JSON.stringify(d.size ?? null).slice(0, 40)}, not a byte count`, 'the registry holds a manifest osb cannot use; push the image again');
    }
    await rm(part, { recursive: true, force: true });
    const blobs = join(part, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const put = (digest: string, bytes: Buffer) => writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
    for (const d of descriptors) await client.pullBlob(d, join(blobs, d.digest.slice('sha256:'.length)));
    await put(m.digest, m.bytes);
    await writeFile(join(part, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(part, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }] }));
    await rm(layoutDir, { recursive: true, force: true });
    await rename(part, layoutDir);
    return { digest: m.digest, mediaType: m.mediaType, config: manifest.config, layers: manifest.layers };
  } catch (e) {
    await rm(part, { recursive: true, force: true });
    throw e;
  } finally {
    client.close();
  }
}
