/**
 * Push an OCI image layout (what `osb oci` writes) with the registry client: blobs first, a few
 * at a time, and the manifest last under every tag. A layout of a multi-platform image (`osb oci
 * --arch x86_64,aarch64`) names an image index: each image's blobs, then each manifest by its
 * digest, then the index under every tag.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OsbError } from '../lib/errors.js';
import { DIGEST, parseJsonObject, readJsonFile } from '../lib/foreign.js';
import { INDEX, RegistryClient, type Descriptor, type PushOptions, type PushStats } from './registry.js';

export interface LayoutPushResult {
  /** What the tags name: the image's manifest, or the index's. */
  readonly digest: string;
  /** The images an index names, by manifest digest; [] for a single image. */
  readonly images: readonly string[];
  readonly tags: readonly string[];
  readonly stats: PushStats;
}

/** One manifest of the layout, read and checked: its bytes (which hash to its digest) and the blobs it names, each present with its size. */
interface Doc {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly blobs: readonly Descriptor[];
  readonly manifests: readonly Descriptor[];
}

const AGAIN = 'run `osb oci --force` to write the layout again';

async function readDoc(layoutDir: string, d: Partial<Descriptor> | undefined, where: string): Promise<Doc> {
  if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest)) throw new OsbError(`${where} names manifest ${JSON.stringify(d?.digest ?? null).slice(0, 80)}, not a sha256 digest`, AGAIN);
  const digest = d.digest;
  const bytes = await readFile(blobPath(layoutDir, digest)).catch((e: NodeJS.ErrnoException) => {
    throw new OsbError(`manifest ${digest} of OCI layout ${layoutDir} is ${e.code === 'ENOENT' ? 'missing' : `unreadable (${e.code ?? e.message})`}`, AGAIN);
  });
  const m = parseJsonObject<{ mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] }>(bytes, `manifest ${digest} of OCI layout ${layoutDir}`, AGAIN);
  // What is pushed (and signed) under this digest must be what the digest names.
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (actual !== digest) throw new OsbError(`manifest ${digest} of OCI layout ${layoutDir} is damaged: its bytes are ${actual}`, AGAIN);
  const blobs = [...(Array.isArray(m.layers) ? m.layers : []), ...(m.config ? [m.config] : [])];
  for (const b of blobs) {
    if (typeof b?.digest !== 'string' || !DIGEST.test(b.digest)) throw new OsbError(`manifest ${digest} of OCI layout ${layoutDir} names blob ${JSON.stringify(b?.digest ?? null).slice(0, 80)}, not a sha256 digest`, AGAIN);
    const st = await stat(blobPath(layoutDir, b.digest)).catch(() => undefined);
    if (!st || st.size !== b.size) throw new OsbError(`blob ${b.digest} of ${layoutDir} is ${st ? `${st.size} bytes, not ${b.size}` : 'missing'}`, AGAIN);
  }
  return { digest, mediaType: m.mediaType ?? d.mediaType ?? '', bytes, blobs, manifests: Array.isArray(m.manifests) ? m.manifests : [] };
}

const blobPath = (layoutDir: string, digest: string) => join(layoutDir, 'blobs', digest.replace(':', '/'));

/**
 * What the layout's index.json names first: an image, or an image index and the images it names
 * (an index of indexes is refused).
 */
export interface Layout {
  readonly top: Doc;
  readonly images: readonly Doc[];
}

export async function readLayout(layoutDir: string): Promise<Layout> {
  const index = await readJsonFile<{ manifests?: Descriptor[] }>(join(layoutDir, 'index.json'), `the index of OCI layout ${layoutDir}`, AGAIN);
  const first = Array.isArray(index.manifests) ? index.manifests[0] : undefined;
  if (!first) throw new OsbError(`${layoutDir}/index.json lists no image`, 'run `osb oci` again');
  const top = await readDoc(layoutDir, first, `${layoutDir}/index.json`);
  if (top.mediaType !== INDEX && !top.manifests.length) return { top, images: [] };
  if (!top.manifests.length) throw new OsbError(`image index ${top.digest} of OCI layout ${layoutDir} names no image`, AGAIN);
  const images = await Promise.all(top.manifests.map((m) => readDoc(layoutDir, m, `image index ${top.digest} of OCI layout ${layoutDir}`)));
  const nested = images.find((i) => i.manifests.length);
  if (nested) throw new OsbError(`image index ${top.digest} of OCI layout ${layoutDir} names another index (${nested.digest}); osb pushes an index of images`, AGAIN);
  return { top, images };
}

/**
 * Push an OCI image layout's image (its index.json's first manifest) under every tag: blobs
 * first (config and layers, a few at a time), the manifest last. For an image index: every
 * image's blobs, each image's manifest by digest, then the index under every tag. `read` is the
 * layout as readLayout read it already (a signing publish reads it first for the digests).
 * `beforeTags` must succeed before any tag is pushed (the signatures' own tags go up in it);
 * `underway` is called when every blob's upload has been sent (or found there).
 */
export async function pushLayout(layoutDir: string, tags: readonly string[], o: PushOptions & { readonly beforeTags?: () => Promise<unknown>; readonly underway?: () => void; readonly read?: Layout }): Promise<LayoutPushResult> {
  const { top, images } = o.read ?? (await readLayout(layoutDir));
  const docs = images.length ? images : [top];
  const seen = new Set<string>();
  const blobs = docs.flatMap((d) => d.blobs).filter((b) => !seen.has(b.digest) && seen.add(b.digest));
  const client = new RegistryClient(o);
  try {
    // GET /v2/ goes beside the first HEADs (they change nothing); no upload starts before it
    // answered, and its failure is the one reported.
    const reachable = client.ping();
    // Once every blob's upload has gone out, the registry's attention is free for what goes up beside it.
    let pending = blobs.length;
    const underway = () => {
      if (--pending === 0) o.underway?.();
    };
    let next = 0;
    const worker = async () => {
      while (next < blobs.length) {
        const b = blobs[next++]!;
        await client.pushBlob(b, blobPath(layoutDir, b.digest), { ready: reachable, underway });
      }
    };
    const workers = [worker(), worker(), worker()].map((w) => w.catch(async (e: unknown) => {
      await reachable; // a registry that is not one: its one line, not a HEAD's
      throw e;
    }));
    await Promise.all([reachable, ...workers]);
    // An index's images go up by digest: no tag names one of them on its own.
    for (const i of images) await client.pushManifest(i.bytes, i.mediaType, i.digest);
    // Only now, with every blob in place (and what must be ready first, a signing key), can a tag name the image.
    await o.beforeTags?.();
    let digest = '';
    for (const t of tags) digest = await client.pushManifest(top.bytes, top.mediaType, t);
    return { digest, images: images.map((i) => i.digest), tags, stats: client.stats };
  } finally {
    client.close();
  }
}
