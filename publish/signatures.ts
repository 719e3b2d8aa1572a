/**
 * Signatures and attestations in a registry, stored as cosign stores them and as containers/image
 * reads them with `use-sigstore-attachments: true` (containers-registries.d(5)): an OCI manifest
 * under the tag `sha256-HEX.sig` (or `.att`) beside the image, one layer a signature. A new
 * signature is added to the layers already there; the same one is not added twice.
 */
import { createHash } from 'node:crypto';
import { OsbError } from '../lib/errors.js';
import { DIGEST, parseJsonObject } from '../lib/foreign.js';
import { attachmentTag } from '../signing/cosign.js';
import type { Descriptor, RegistryClient } from './registry.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** Most layers osb reads from a foreign attachment manifest, and bytes of one layer. */
const MAX_LAYERS = 64;
export const MAX_ATTACHMENT = 4 << 20;

export interface AttachmentLayer extends Descriptor {
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Attachment {
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly annotations: Readonly<Record<string, string>>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The layers of the attachment manifest `tag`, or none when there is none (404). */
async function layersOf(client: RegistryClient, tag: string): Promise<AttachmentLayer[]> {
  if (!(await client.headManifest(tag))) return [];
  const m = await client.pullManifest(tag);
  const doc = parseJsonObject<{ layers?: unknown }>(m.bytes, `the attachment manifest ${tag}`);
  if (!Array.isArray(doc.layers)) return [];
  return (doc.layers as AttachmentLayer[]).slice(0, MAX_LAYERS).filter((l) => typeof l?.digest === 'string' && DIGEST.test(l.digest) && typeof l.mediaType === 'string' && Number.isInteger(l.size));
}

/**
 * Attach `items` to the image `digest` under cosign's tag for `kind`. Everything but the tag
 * happens now: each payload a blob, then a config naming them (blobs name nothing, so this may
 * run while the image itself is pushed). `commit` puts the manifest under the tag, once the
 * image is in: the tag never names a missing blob or a missing image.
 */
export async function stageAttachments(client: RegistryClient, digest: string, kind: 'sig' | 'att', items: readonly Attachment[], already?: (there: Attachment, item: Attachment) => boolean): Promise<{ tag: string; added: number; commit: () => Promise<void> }> {
  const tag = attachmentTag(digest, kind);
  const layers: AttachmentLayer[] = await layersOf(client, tag);
  const key = (l: { digest: string; annotations?: Readonly<Record<string, string>> }) => `${l.digest} ${JSON.stringify(l.annotations ?? {})}`;
  const have = new Set(layers.map(key));
  // What is there and says the same (the same payload, signed by the same key) is not added again.
  const there = already ? await Promise.all(layers.filter((l) => items.some((it) => it.mediaType === l.mediaType)).map(async (l) => ({ mediaType: l.mediaType, bytes: l.size <= MAX_ATTACHMENT ? await client.blobBytes(l, MAX_ATTACHMENT) : Buffer.alloc(0), annotations: l.annotations ?? {} }))) : [];
  const blobs: [Descriptor, Buffer][] = [];
  for (const it of items) {
    const l: AttachmentLayer = { mediaType: it.mediaType, size: it.bytes.length, digest: sha(it.bytes), annotations: it.annotations };
    if (have.has(key(l)) || there.some((t) => already!(t, it))) continue;
    blobs.push([l, it.bytes]);
    layers.push(l);
    have.add(key(l));
  }
  const added = blobs.length;
  if (!added) return { tag, added, commit: async () => undefined };
  const config = Buffer.from(JSON.stringify({ architecture: '', config: {}, created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const cd: Descriptor = { mediaType: OCI_CONFIG, size: config.length, digest: sha(config) };
  // Small blobs, all at once; the manifest only when every one is in.
  await Promise.all([...blobs, [cd, config] as [Descriptor, Buffer]].map(([d, b]) => client.pushBlob(d, b, { probe: false })));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: cd, layers }));
  return { tag, added, commit: async () => void (await client.pushManifest(manifest, OCI_MANIFEST, tag)) };
}

/** What is attached to the image `digest` under `kind`, each layer's bytes checked against its digest. */
export async function pullAttachments(client: RegistryClient, digest: string, kind: 'sig' | 'att'): Promise<Attachment[]> {
  const out: Attachment[] = [];
  for (const l of await layersOf(client, attachmentTag(digest, kind))) {
    if (l.size > MAX_ATTACHMENT) throw new OsbError(`the ${kind === 'sig' ? 'signature' : 'attestation'} layer ${l.digest} is ${l.size} bytes; osb reads at most ${MAX_ATTACHMENT}`);
    const ann = l.annotations && typeof l.annotations === 'object' ? Object.fromEntries(Object.entries(l.annotations).filter(([, v]) => typeof v === 'string')) : {};
    out.push({ mediaType: l.mediaType, bytes: await client.blobBytes(l, MAX_ATTACHMENT), annotations: ann });
  }
  return out;
}
