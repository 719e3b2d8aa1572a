/**
 * Reading an OCI layout before a push: what is pushed, and signed, under a manifest's digest must
 * be what that digest names. A layout damaged on disk is refused in one line before anything goes
 * up (the signatures are staged from these digests beside the upload).
 */
import { afterEach, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { readLayout } from '../../publish/layout.js';

afterEach(() => removeTempDirs());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A one-layer layout; `damage` changes the manifest's bytes after its digest is taken. */
function layout(damage?: (m: Buffer) => Buffer): { dir: string; digest: string } {
  const dir = tempDir('osb-layout-');
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => (writeFileSync(join(blobs, sha(b).slice(7)), b), sha(b));
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const layer = Buffer.from('not really a tar, but sized');
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(layer), size: layer.length }] }));
  const digest = sha(manifest);
  writeFileSync(join(blobs, digest.slice(7)), damage ? damage(manifest) : manifest);
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length }] }));
  return { dir, digest };
}

test('a layout whose manifest hashes to its digest is read, with its blobs', async () => {
  const { dir, digest } = layout();
  const { top } = await readLayout(dir);
  expect(top.digest).toBe(digest);
  expect(top.blobs).toHaveLength(2);
});

test('a manifest whose bytes are not what its digest names is refused, naming both digests', async () => {
  // Still valid JSON naming the same blobs: only the digest tells it was changed.
  const { dir, digest } = layout((m) => Buffer.from(m.toString().replace('"schemaVersion":2', '"schemaVersion": 2')));
  await expect(readLayout(dir)).rejects.toThrow(new RegExp(`^manifest ${digest} of OCI layout .* is damaged: its bytes are sha256:[0-9a-f]{64}$`));
});
