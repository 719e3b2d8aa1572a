/**
 * Push an OCI image layout (what `osb oci` writes) with the registry client: blobs first, a few
 * at a time, and the manifest last under every tag.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OsbError } from '../lib/errors.js';
import { DIGEST, parseJsonObject, readJsonFile } from '../lib/foreign.js';
import { RegistryClient, type Descriptor, type PushOptions, type PushStats } from './registry.js';

export interface LayoutPushResult {
  readonly digest: string;
  readonly tags: readonly string[];
  readonly stats: PushStats;
}

/**
 * Push an OCI image layout's image (its index.json's first manifest) under every tag: blobs
 * first (config and layers, a few at a time), the manifest last.
 */
export async function pushLayout(layoutDir: string, tags: readonly string[], o: PushOptions & { readonly beforeTags?: () => Promise<unknown> }): Promise<LayoutPushResult> {
  const blob = (d: string) => join(layoutDir, 'blobs', d.replace(':', '/'));
  const again = 'run `osb oci --force` to write the layout again';
  const index = await readJsonFile<{ manifests?: Descriptor[] }>(join(layoutDir, 'index.json'), `the index of OCI layout ${layoutDir}`, again);
  const top = Array.isArray(index.manifests) ? index.manifests[0] : undefined;
  if (!top) throw new OsbError(`${layoutDir}/index.json lists no image`, 'run `osb oci` again');
  if (typeof top.digest !== 'string' || !DIGEST.test(top.digest)) throw new OsbError(`${layoutDir}/index.json names manifest ${JSON.stringify(top.digest ?? null).slice(0, 80)}, not a sha256 digest`, again);
  const bytes = await readFile(blob(top.digest)).catch((e: NodeJS.ErrnoException) => {
    throw new OsbError(`manifest ${top.digest} of OCI layout ${layoutDir} is ${e.code === 'ENOENT' ? 'missing' : `unreadable (${e.code ?? e.message})`}`, again);
  });
  const manifest = parseJsonObject<{ mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] }>(bytes, `manifest ${top.digest} of OCI layout ${layoutDir}`, again);
  if (manifest.manifests) throw new OsbError(`${layoutDir} holds an image index; osb publish pushes single-platform images`);
  const blobs = [...(Array.isArray(manifest.layers) ? manifest.layers : []), ...(manifest.config ? [manifest.config] : [])];
  for (const b of blobs) {
    if (typeof b?.digest !== 'string' || !DIGEST.test(b.digest)) throw new OsbError(`manifest ${top.digest} of OCI layout ${layoutDir} names blob ${JSON.stringify(b?.digest ?? null).slice(0, 80)}, not a sha256 digest`, again);
    const st = await stat(blob(b.digest)).catch(() => undefined);
    if (!st || st.size !== b.size) throw new OsbError(`blob ${b.digest} of ${layoutDir} is ${st ? `${st.size} bytes, not ${b.size}` : 'missing'}`, 'run `osb oci --force`');
  }
  const client = new RegistryClient(o);
  try {
    await client.ping();
    let next = 0;
    const worker = async () => {
      while (next < blobs.length) {
        const b = blobs[next++]!;
        await client.pushBlob(b, blob(b.digest));
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    // Only now, with every blob in place (and what must be ready first, a signing key), can a tag name the image.
    await o.beforeTags?.();
    let digest = '';
    for (const t of tags) digest = await client.pushManifest(bytes, manifest.mediaType ?? top.mediaType, t);
    return { digest, tags, stats: client.stats };
  } finally {
    client.close();
  }
}
