/**
 * Push an OCI image layout (what `osb oci` writes) with the registry client: blobs first, a few
 * at a time, and the manifest last under every tag.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OsbError } from '../lib/errors.js';
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
export async function pushLayout(layoutDir: string, tags: readonly string[], o: PushOptions): Promise<LayoutPushResult> {
  const blob = (d: string) => join(layoutDir, 'blobs', d.replace(':', '/'));
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  const top = index.manifests?.[0];
  if (!top) throw new OsbError(`${layoutDir}/index.json lists no image`, 'run `osb oci` again');
  const bytes = await readFile(blob(top.digest));
  const manifest = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
  if (manifest.manifests) throw new OsbError(`${layoutDir} holds an image index; osb publish pushes single-platform images`);
  const blobs = [...(manifest.layers ?? []), ...(manifest.config ? [manifest.config] : [])];
  for (const b of blobs) {
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
    // Only now, with every blob in place, can a tag name the image.
    let digest = '';
    for (const t of tags) digest = await client.pushManifest(bytes, manifest.mediaType ?? top.mediaType, t);
    return { digest, tags, stats: client.stats };
  } finally {
    client.close();
  }
}
