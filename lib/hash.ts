/** Hashing helpers: files, values and directory trees, all sha256 hex. */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Digests already taken in this process, by file identity: an artefact's SBOM, its provenance and
 * the build cache each name its sha256, and a disk image is hundreds of MiB to read again. osb
 * replaces files by rename (a new inode), and any write in place changes mtime or ctime, so a
 * changed file never matches its old entry.
 */
const digests = new Map<string, string>();

const identity = (st: BigIntStats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;

export async function sha256File(path: string): Promise<string> {
  return (await fileDigest(path)).sha256;
}

/** A file's sha256 with the identity it was read under (for rememberDigest after a rename). */
export interface FileDigest {
  readonly sha256: string;
  readonly identity: string;
}

/**
 * A file's sha256, read 1 MiB at a time into two buffers in turn: the next read runs on the
 * thread pool while this one is hashed, and no buffer is allocated per chunk (a stream's chunks
 * of a disk image are hundreds of MiB of garbage to collect).
 */
async function sha256Of(path: string): Promise<string> {
  const CHUNK = 1 << 20;
  const fh = await open(path, 'r');
  try {
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    const h = createHash('sha256');
    let next = fh.read(bufs[0]!, 0, CHUNK, null);
    for (let i = 0; ; i ^= 1) {
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      // The other buffer is free: its chunk was hashed before this read was awaited.
      next = fh.read(bufs[i ^ 1]!, 0, CHUNK, null);
      h.update(bufs[i]!.subarray(0, bytesRead));
    }
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}

export async function fileDigest(path: string): Promise<FileDigest> {
  const st = await stat(path, { bigint: true });
  const key = `${identity(st)}:${st.ctimeNs}`;
  const known = digests.get(key);
  if (known) return { sha256: known, identity: identity(st) };
  const sha256 = await sha256Of(path);
  digests.set(key, sha256);
  return { sha256, identity: identity(st) };
}

/**
 * fileDigest's sha256, kept across runs in `memo` (JSON: file identity and ctime -> sha256, the
 * newest 32), as git's index keeps file stats: a large input (a parent's oci-archive) is read once,
 * not on every build. Any write or replacement of the file changes its ctime or inode, so a stale
 * entry is never used. A memo that cannot be read or written only costs the read.
 */
export async function rememberedSha256(path: string, memo: string): Promise<string> {
  const st = await stat(path, { bigint: true });
  const key = `${identity(st)}:${st.ctimeNs}`;
  let known: Record<string, string> = {};
  try {
    const parsed = JSON.parse(await readFile(memo, 'utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) known = parsed as Record<string, string>;
  } catch {
    // no memo yet, or a broken one: read the file
  }
  const hit = known[key];
  if (typeof hit === 'string' && /^[0-9a-f]{64}$/.test(hit)) return hit;
  const { sha256 } = await fileDigest(path);
  const kept = Object.entries(known).filter(([k, v]) => k !== key && typeof v === 'string').slice(-31);
  const tmp = `${memo}.osb-tmp-${process.pid}`;
  try {
    await mkdir(dirname(memo), { recursive: true });
    await writeFile(tmp, JSON.stringify(Object.fromEntries([...kept, [key, sha256]])) + '\n');
    await rename(tmp, memo);
  } catch {
    await rm(tmp, { force: true });
  }
  return sha256;
}

/** The digest of `path`, whose sha256 its writer took as it wrote it: kept as fileDigest would keep it. */
export async function writtenDigest(path: string, sha256: string): Promise<FileDigest> {
  const st = await stat(path, { bigint: true });
  digests.set(`${identity(st)}:${st.ctimeNs}`, sha256);
  return { sha256, identity: identity(st) };
}

/**
 * Keep a digest taken before the file was renamed into place (a rename changes its ctime, not
 * its inode, size or mtime): only if `path` is still that file, unchanged.
 */
export async function rememberDigest(path: string, d: FileDigest): Promise<void> {
  const st = await stat(path, { bigint: true });
  if (identity(st) === d.identity) digests.set(`${identity(st)}:${st.ctimeNs}`, d.sha256);
}

/** JSON with sorted keys, so equal values always hash equal. */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .filter((k) => obj[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`)
    .join(',')}}`;
}

export function hashValue(value: unknown): string {
  return sha256(stableStringify(value));
}

/**
 * Hash of a file or a directory tree by content: names, types, modes, symlink targets and file
 * contents, in sorted order. Times and inode numbers are left out so a copy hashes the same.
 * `include` (relative paths as "./a/b") leaves entries and everything under them out.
 */
export async function hashPath(path: string, include: (rel: string) => boolean = () => true): Promise<string> {
  const h = createHash('sha256');
  const walk = async (p: string, rel: string): Promise<void> => {
    if (!include(rel)) return;
    const st = await lstat(p);
    h.update(`${rel}\0${st.mode.toString(8)}\0`);
    if (st.isSymbolicLink()) h.update(`-> ${await readlink(p)}\0`);
    else if (st.isFile()) h.update(`${await sha256File(p)}\0`);
    else if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) await walk(join(p, name), `${rel}/${name}`);
    }
  };
  await walk(path, '.');
  return h.digest('hex');
}
