/**
 * Packages: download (cached by identity), then the chain of trust apk-tools follows for a
 * package from a signed index (src/extract_v2.c, APK_SIGN_VERIFY_IDENTITY):
 *   index `C:` = `Q1` + base64 SHA-1 of the raw control member  (the index is signed)
 *   .PKGINFO `datahash` = SHA-256 of the raw data member            (the control is now trusted)
 *   each file's pax `APK-TOOLS.checksum.SHA1` = SHA-1 of its content (the data is now trusted)
 * A package's own `.SIGN` member is not needed for that chain and is skipped, as apk does.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildContext } from '../../../lib/context.js';
import { writeAtomic } from '../../../lib/atomic.js';
import { OsbError } from '../../../lib/errors.js';
import type { IndexPackage } from './apkindex.js';
import { splitGzipMembers } from './gzip.js';
import { download } from './index-fetch.js';
import { signatureEntries } from './signature.js';
import { readTar, type TarEntry } from './tar.js';

export type ScriptType = 'pre-install' | 'post-install' | 'pre-deinstall' | 'post-deinstall' | 'pre-upgrade' | 'post-upgrade' | 'trigger';
export const SCRIPT_TYPES: readonly ScriptType[] = ['pre-install', 'post-install', 'pre-deinstall', 'post-deinstall', 'pre-upgrade', 'post-upgrade', 'trigger'];

export interface DataEntry extends TarEntry {
  /** `Q1` + base64 SHA-1 for files and symlinks (the `Z:` of the installed database). */
  readonly checksum?: string;
}

export interface OpenedPackage {
  readonly pkg: IndexPackage;
  /** .PKGINFO as key → values (depend, provides, triggers, replaces may repeat). */
  readonly info: ReadonlyMap<string, readonly string[]>;
  readonly scripts: ReadonlyMap<ScriptType, Buffer>;
  readonly entries: readonly DataEntry[];
}

export const identityOf = (controlRaw: Buffer) => `Q1${createHash('sha1').update(controlRaw).digest('base64')}`;
const q1Hex = (q1: string) => Buffer.from(q1.slice(2), 'base64').toString('hex');
const q1 = (hex: string) => `Q1${Buffer.from(hex, 'hex').toString('base64')}`;

/** `<repo url>/<arch>/<name>-<version>.apk`, the layout of every apk repository. */
export const packageUrl = (pkg: IndexPackage, arch: string) => `${pkg.repo!.url}/${arch}/${pkg.name}-${pkg.version}.apk`;
export const cachePath = (cacheDir: string, pkg: IndexPackage) => join(cacheDir, 'apk', `${pkg.name}-${pkg.version}.${q1Hex(pkg.checksum)}.apk`);

export function parsePkgInfo(text: string): Map<string, string[]> {
  const info = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf(' = ');
    if (eq < 0) continue;
    const k = line.slice(0, eq);
    info.set(k, [...(info.get(k) ?? []), line.slice(eq + 3)]);
  }
  return info;
}

/** Verify the chain for `bytes` against its index record and return what osb installs from it. */
export function openPackage(bytes: Buffer, pkg: IndexPackage): OpenedPackage {
  const what = `${pkg.name}-${pkg.version}.apk`;
  const members = splitGzipMembers(bytes, what);
  const first = signatureEntries(members[0]!, what).length > 0 ? 1 : 0;
  const control = members[first];
  if (!control || members.length < first + 2) throw new OsbError(`${what} has no ${control ? 'data' : 'control'} segment`, 'the package is damaged; remove it from the cache and run again');
  const identity = identityOf(control.raw);
  if (identity !== pkg.checksum) {
    throw new OsbError(`${what}: its control segment (${identity}) does not match the index (C:${pkg.checksum})`, 'the package was altered or the mirror is inconsistent; try another --mirror');
  }
  let info: Map<string, string[]> | undefined;
  const scripts = new Map<ScriptType, Buffer>();
  for (const e of readTar(control.data, `${what} control`)) {
    if (e.name === '.PKGINFO') info = parsePkgInfo(e.data.toString('utf8'));
    const type = SCRIPT_TYPES.find((t) => e.name === `.${t}`);
    if (type && e.type === 'file') scripts.set(type, e.data);
  }
  if (!info) throw new OsbError(`${what} has no .PKGINFO`, 'the package is damaged');
  if (info.get('pkgname')?.[0] !== pkg.name || info.get('pkgver')?.[0] !== pkg.version) {
    throw new OsbError(`${what}: .PKGINFO names ${info.get('pkgname')?.[0]}-${info.get('pkgver')?.[0]}, the index ${pkg.name}-${pkg.version}`, 'the mirror is inconsistent; try another --mirror');
  }
  const datahash = info.get('datahash')?.[0];
  if (!datahash) throw new OsbError(`${what} has no datahash in .PKGINFO, so its files cannot be verified`, 'rebuild the package with a current abuild');
  const dataMembers = members.slice(first + 1);
  const actual = createHash('sha256');
  for (const m of dataMembers) actual.update(m.raw);
  if (actual.digest('hex') !== datahash) {
    throw new OsbError(`${what}: its data segment does not match the datahash in its verified control segment`, 'the package was altered or damaged; try another --mirror');
  }
  const entries = readTar(Buffer.concat(dataMembers.map((m) => m.data)), `${what} data`).map((e): DataEntry => {
    const declared = e.pax['APK-TOOLS.checksum.SHA1'];
    if (e.type !== 'file' && e.type !== 'symlink') return e;
    // abuild-tar hashes a file's content and a symlink's target (abuild-tar.c, do_it).
    const hex = createHash('sha1').update(e.type === 'file' ? e.data : Buffer.from(e.linkname, 'utf8')).digest('hex');
    if (declared !== undefined && declared.toLowerCase() !== hex) {
      throw new OsbError(`${what}: ${e.name} does not match its APK-TOOLS.checksum.SHA1`, 'the package is damaged; try another --mirror');
    }
    return { ...e, checksum: q1(hex) };
  });
  return { pkg, info, scripts, entries };
}

/**
 * The verified package: from the cache when it holds this identity and still verifies, else
 * downloaded (and cached only once it verifies).
 */
export async function fetchPackage(ctx: BuildContext, pkg: IndexPackage, arch: string, cacheDir: string): Promise<OpenedPackage> {
  const path = cachePath(cacheDir, pkg);
  if (existsSync(path)) {
    try {
      return openPackage(await readFile(path), pkg);
    } catch (e) {
      ctx.log.warn(`cached ${pkg.name}-${pkg.version} does not verify (${(e as Error).message}); downloading it again`);
      await rm(path, { force: true });
    }
  }
  const url = packageUrl(pkg, arch);
  ctx.log.debug(`fetching ${url}`);
  const bytes = await download(ctx, url, `${pkg.name}-${pkg.version}`);
  const opened = openPackage(bytes, pkg);
  await mkdir(join(cacheDir, 'apk'), { recursive: true });
  await writeAtomic(path, (tmp) => writeFile(tmp, bytes));
  return opened;
}
