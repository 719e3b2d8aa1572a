/**
 * Crafted tar archives for the escape tests: ustar headers written member by member, with
 * whatever names, types and link targets an attacker would choose (GNU tar refuses to write
 * most of them). And an oci-archive holding such layers, as `--parent oci-archive:` reads one.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface Member {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  data?: string;
  link?: string;
  mode?: number;
  dev?: [number, number];
}

const TYPE = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function header(m: Member): Buffer {
  const b = Buffer.alloc(512);
  const type = m.type ?? 'file';
  const size = type === 'file' ? Buffer.byteLength(m.data ?? '') : 0;
  const oct = (off: number, len: number, v: number) => b.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
  b.write(m.name, 0, 100, 'latin1');
  oct(100, 8, m.mode ?? (type === 'dir' ? 0o755 : 0o644));
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, 1_700_000_000);
  b.write(TYPE[type], 156, 1, 'latin1');
  if (m.link) b.write(m.link, 157, 100, 'latin1');
  b.write('ustar\0', 257, 6, 'latin1');
  b.write('00', 263, 2, 'latin1');
  if (m.dev) {
    oct(329, 8, m.dev[0]);
    oct(337, 8, m.dev[1]);
  }
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

/** A tar archive of these members, in this order. */
export function craftTar(members: readonly Member[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    parts.push(header(m));
    const data = Buffer.from(m.type === undefined || m.type === 'file' ? m.data ?? '' : '');
    if (data.length) parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * An OCI image layout whose image has these layers (each a member list or a tar's bytes, gzipped),
 * packed as an oci-archive at `file`. Returns the layer digests.
 */
export function craftOciArchive(dir: string, file: string, layers: readonly (readonly Member[] | Buffer)[]): string[] {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const tars = layers.map((l) => (Buffer.isBuffer(l) ? l : craftTar(l)));
  const blobs = tars.map((t) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzipSync(t)) }));
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map(sha) }, config: {} })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: blobs })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }] }));
  execFileSync('tar', ['-cf', file, '-C', dir, 'oci-layout', 'index.json', 'blobs']);
  return blobs.map((b) => b.digest);
}
