/**
 * Where the kernel source comes from, in this order: --kernel-src (directory or tarball),
 * --kernel-version (kernel.org, checksum verified), else Debian/Ubuntu's linux-source-X.Y under
 * /usr/src. Tarballs are unpacked once into a cache keyed by the tarball's identity.
 */
import { createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join, resolve } from 'node:path';
import semver from 'semver';
import type { BuildContext } from '../lib/context.js';
import { OsbError, UsageError } from '../lib/errors.js';
import { hashValue, sha256File } from '../lib/hash.js';

export const KERNEL_ORG = 'https://cdn.kernel.org/pub/linux/kernel';

export interface SourceSpec {
  readonly kind: 'dir' | 'tarball' | 'download';
  readonly path: string;
  /** Cheap identity for make semantics: path + size + mtime for tarballs, the tree's Makefile version for dirs. */
  readonly identity: string;
  readonly version?: string;
}

/** X.Y or X.Y.Z, else a usage error. */
export function parseKernelVersion(v: string): { series: string; full?: string } {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m) throw new UsageError(`--kernel-version '${v}' is not a kernel version`, 'use X.Y (newest patch release) or X.Y.Z, e.g. 6.1 or 6.1.119');
  return { series: `${m[1]}.${m[2]}`, full: m[3] !== undefined ? `${m[1]}.${m[2]}.${m[3]}` : undefined };
}

/** The newest X.Y.Z of a series in a kernel.org directory listing (semver orders the patch levels). */
export function newestPatchRelease(listing: string, series: string): string | undefined {
  const re = new RegExp(`linux-(${series.replace('.', '\\.')}(?:\\.\\d+)?)\\.tar\\.xz`, 'g');
  const versions = [...listing.matchAll(re)].map((m) => m[1]!);
  const valid = versions.map((v) => ({ v, s: semver.coerce(v)! })).filter((x) => x.s);
  valid.sort((a, b) => semver.compare(a.s, b.s));
  return valid.at(-1)?.v;
}

function isKernelTree(dir: string): boolean {
  return existsSync(join(dir, 'Makefile')) && existsSync(join(dir, 'Kconfig')) && existsSync(join(dir, 'scripts', 'kconfig'));
}

/** Newest /usr/src/linux-source-X.Y.tar.* on the host. */
export function hostKernelSource(srcRoot = '/usr/src'): string | undefined {
  if (!existsSync(srcRoot)) return undefined;
  const found = readdirSync(srcRoot)
    .map((n) => ({ n, m: /^linux-source-(\d+\.\d+)\.tar\.(xz|gz|bz2)$/.exec(n) }))
    .filter((x) => x.m)
    .sort((a, b) => semver.compare(semver.coerce(a.m![1])!, semver.coerce(b.m![1])!));
  return found.length ? join(srcRoot, found.at(-1)!.n) : undefined;
}

export function resolveSource(kernelSrc: string | undefined, kernelVersion: string | undefined): SourceSpec {
  if (kernelSrc) {
    const p = resolve(kernelSrc);
    if (!existsSync(p)) throw new OsbError(`kernel source ${p} does not exist`, 'pass --kernel-src a kernel source directory or tarball');
    const st = statSync(p);
    if (st.isDirectory()) {
      if (!isKernelTree(p)) throw new OsbError(`${p} is not a kernel source tree (no Makefile, Kconfig and scripts/kconfig)`, 'pass --kernel-src the top directory of a Linux source tree');
      return { kind: 'dir', path: p, identity: `dir ${p}` };
    }
    if (!/\.tar(\.(xz|gz|bz2|zst))?$/.test(p)) throw new OsbError(`${p} is neither a directory nor a .tar.* archive`, 'pass --kernel-src a source directory or tarball');
    return { kind: 'tarball', path: p, identity: `tarball ${p} ${st.size} ${st.mtimeMs}` };
  }
  if (kernelVersion) {
    const v = parseKernelVersion(kernelVersion);
    return { kind: 'download', path: v.full ?? v.series, identity: `kernel.org ${v.full ?? v.series}`, version: v.full };
  }
  const host = hostKernelSource();
  if (!host) {
    throw new OsbError('no kernel source: no --kernel-src, no --kernel-version, and no linux-source-X.Y under /usr/src', 'apt-get install linux-source-6.1, or pass --kernel-src / --kernel-version');
  }
  const st = statSync(host);
  return { kind: 'tarball', path: host, identity: `tarball ${host} ${st.size} ${st.mtimeMs}` };
}

/** Download linux-X.Y.Z.tar.xz from kernel.org into the cache and check it against sha256sums.asc. */
async function download(ctx: BuildContext, spec: SourceSpec, cache: string): Promise<string> {
  const major = spec.path.split('.')[0];
  const base = `${KERNEL_ORG}/v${major}.x`;
  const get = async (url: string) => {
    const r = await fetch(url, { signal: ctx.signal });
    if (!r.ok) throw new OsbError(`download failed: ${url}: HTTP ${r.status}`, 'check --kernel-version and your network');
    return r;
  };
  let version = spec.version;
  if (!version) {
    version = newestPatchRelease(await (await get(`${base}/`)).text(), spec.path);
    if (!version) throw new OsbError(`kernel.org has no ${spec.path}.x release`, 'check --kernel-version');
  }
  const file = join(cache, `linux-${version}.tar.xz`);
  const sums = await (await get(`${base}/sha256sums.asc`)).text();
  const want = new RegExp(`^([0-9a-f]{64})\\s+linux-${version.replace(/\./g, '\\.')}\\.tar\\.xz$`, 'm').exec(sums)?.[1];
  if (!want) throw new OsbError(`kernel.org's sha256sums.asc has no entry for linux-${version}.tar.xz`);
  if (!existsSync(file) || (await sha256File(file)) !== want) {
    ctx.log.info(`downloading linux-${version}.tar.xz from kernel.org`);
    const tmp = `${file}.osb-tmp-${process.pid}`;
    await pipeline(Readable.fromWeb((await get(`${base}/linux-${version}.tar.xz`)).body as never), createWriteStream(tmp));
    const got = await sha256File(tmp);
    if (got !== want) {
      await rm(tmp, { force: true });
      throw new OsbError(`checksum mismatch for linux-${version}.tar.xz: got ${got}, kernel.org says ${want}`, 'try again; if it persists, the mirror is bad');
    }
    await rename(tmp, file);
  }
  return file;
}

/** A source directory ready to build from (unpacking a tarball into the cache when needed). */
export async function prepareSource(ctx: BuildContext, spec: SourceSpec, cacheDir: string): Promise<string> {
  if (spec.kind === 'dir') return spec.path;
  const cache = join(cacheDir, 'kernel-src');
  if (!ctx.dryRun) await mkdir(cache, { recursive: true });
  const tarball = spec.kind === 'download' ? (ctx.dryRun ? join(cache, `linux-${spec.path}.tar.xz`) : await download(ctx, spec, cache)) : spec.path;
  const dest = join(cache, hashValue(spec.kind === 'download' ? tarball : spec.identity).slice(0, 16));
  if (existsSync(join(dest, '.complete'))) {
    const top = (await readdir(dest)).find((n) => n !== '.complete')!;
    return join(dest, top);
  }
  ctx.log.info(`unpacking ${tarball}`);
  const tmp = `${dest}.osb-tmp-${process.pid}`;
  if (!ctx.dryRun) {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
  }
  await ctx.run(['tar', '-xf', tarball, '-C', tmp]);
  if (ctx.dryRun) return join(dest, 'linux');
  const tops = await readdir(tmp);
  if (tops.length !== 1 || !isKernelTree(join(tmp, tops[0]!))) {
    await rm(tmp, { recursive: true, force: true });
    throw new OsbError(`${tarball} does not hold a kernel source tree`, 'pass a Linux source tarball');
  }
  await (await import('node:fs/promises')).writeFile(join(tmp, '.complete'), '');
  await rm(dest, { recursive: true, force: true });
  await rename(tmp, dest);
  return join(dest, tops[0]!);
}
