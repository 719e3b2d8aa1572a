/**
 * The image config, manifest and index (OCI image spec v1.0), built as bytes so their digests are
 * fixed by the inputs: keys in a fixed order, times from SOURCE_DATE_EPOCH.
 */
import { createHash } from 'node:crypto';
import type { LayerResult } from './layer.js';

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
} as const;

export const REF_NAME = 'org.opencontainers.image.ref.name';
export const TOOLBOX_LABEL = 'com.github.containers.toolbox';

/** OCI/Go architecture names from the kernel's (uname -m) names osb uses. */
export function goArch(arch: string): { architecture: string; variant?: string } {
  const m: Record<string, { architecture: string; variant?: string }> = {
    x86_64: { architecture: 'amd64' },
    amd64: { architecture: 'amd64' },
    aarch64: { architecture: 'arm64', variant: 'v8' },
    arm64: { architecture: 'arm64', variant: 'v8' },
    armv7l: { architecture: 'arm', variant: 'v7' },
    armhf: { architecture: 'arm', variant: 'v7' },
    ppc64le: { architecture: 'ppc64le' },
    s390x: { architecture: 's390x' },
    riscv64: { architecture: 'riscv64' },
    i686: { architecture: '386' },
  };
  return m[arch] ?? { architecture: arch };
}

export interface Blob {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly size: number;
}

export function jsonBlob(value: unknown): Blob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
}

export interface ImageMeta {
  readonly arch: string;
  readonly created: string;
  readonly cmd: readonly string[];
  readonly env: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly refName: string;
}

const sorted = (o: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));

/** What a child image keeps of its parent: the layers (unchanged), their diff_ids and history. */
export interface ParentLayers {
  readonly layers: readonly { mediaType: string; digest: string; size: number }[];
  readonly diffIds: readonly string[];
  readonly history: readonly unknown[];
}

/** Config, manifest and index for one layer (on top of the parent's layers when there is one). */
export function imageDocuments(layer: LayerResult, m: ImageMeta, parent?: ParentLayers): { config: Blob; manifest: Blob; index: Buffer } {
  const config = jsonBlob({
    created: m.created,
    ...goArch(m.arch),
    os: 'linux',
    config: { Env: [...m.env], Cmd: [...m.cmd], WorkingDir: '/', Labels: sorted(m.labels) },
    rootfs: { type: 'layers', diff_ids: [...(parent?.diffIds ?? []), layer.diffId] },
    history: [...(parent?.history ?? []), { created: m.created, created_by: 'osb oci', comment: parent ? 'the osb rootfs: what it changes of the parent' : 'the osb rootfs as one layer' }],
  });
  const manifest = jsonBlob({
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: MEDIA.config, digest: config.digest, size: config.size },
    layers: [...(parent?.layers ?? []).map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })), { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    annotations: sorted(m.annotations),
  });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: [{ mediaType: MEDIA.manifest, digest: manifest.digest, size: manifest.size, annotations: { [REF_NAME]: m.refName } }],
    }),
  );
  return { config, manifest, index };
}
