/**
 * The image layout as one tarball: an oci-archive (what `podman load -i` and `skopeo copy
 * oci-archive:` read), optionally with docker's manifest.json beside it, which makes the same
 * tar a docker-archive (`docker load` since Docker 25 writes exactly this shape).
 *
 * These tars hold only directories and regular files with ASCII names, so tar-stream fits here.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';

type HeaderArg = Parameters<ReturnType<typeof tarStream.pack>['entry']>[0];

export interface ArchiveOptions {
  /** The staged layout directory (oci-layout, index.json, blobs/sha256/...). */
  readonly layoutDir: string;
  readonly output: string;
  readonly sourceDateEpoch: number;
  /** Extra top-level files (docker's manifest.json), name -> bytes. */
  readonly extra?: Readonly<Record<string, Buffer>>;
  readonly signal?: AbortSignal;
}

/** Write the tarball of the layout, entries sorted, owners 0, mtimes SOURCE_DATE_EPOCH. */
export async function writeLayoutArchive(o: ArchiveOptions): Promise<void> {
  const pack = tarStream.pack();
  const written = pipeline(pack, createWriteStream(o.output), { signal: o.signal });
  const mtime = new Date(o.sourceDateEpoch * 1000);
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime };
  const put = (header: HeaderArg, body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      pack.entry(header, body ?? Buffer.alloc(0), cb);
    });
  const putFile = async (name: string, path: string) => {
    const size = (await stat(path)).size;
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ ...base, name, size, mode: 0o644, type: 'file' }, (err) => (err ? reject(err) : resolve()));
      createReadStream(path).on('error', reject).pipe(entry);
    });
  };
  const top = Object.keys(o.extra ?? {});
  for (const name of ['index.json', ...top, 'oci-layout'].sort()) {
    if (o.extra?.[name]) await put({ ...base, name, mode: 0o644, type: 'file', size: o.extra[name]!.length }, o.extra[name]);
    else await putFile(name, join(o.layoutDir, name));
  }
  await put({ ...base, name: 'blobs/', mode: 0o755, type: 'directory' });
  await put({ ...base, name: 'blobs/sha256/', mode: 0o755, type: 'directory' });
  for (const blob of (await readdir(join(o.layoutDir, 'blobs', 'sha256'))).sort()) {
    if (o.signal?.aborted) throw o.signal.reason;
    await putFile(`blobs/sha256/${blob}`, join(o.layoutDir, 'blobs', 'sha256', blob));
  }
  pack.finalize();
  await written;
}

/** docker's manifest.json for a docker-archive of the layout. */
export function dockerManifest(configDigest: string, layerDigests: string | readonly string[], repoTag: string): Buffer {
  const path = (d: string) => `blobs/sha256/${d.replace(/^sha256:/, '')}`;
  const layers = typeof layerDigests === 'string' ? [layerDigests] : layerDigests;
  return Buffer.from(JSON.stringify([{ Config: path(configDigest), RepoTags: [repoTag], Layers: layers.map(path) }]));
}
