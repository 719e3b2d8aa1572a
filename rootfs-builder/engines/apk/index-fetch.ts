/**
 * Repository indexes: `<mirror>/<branch>/<repo>/<arch>/APKINDEX.tar.gz`, fetched on every build
 * (a few hundred KiB, and a stale index would point at packages the mirror no longer has),
 * verified against the trusted keys before anything inside it is read.
 */
import { OsbError } from '../../../lib/errors.js';
import type { BuildContext } from '../../../lib/context.js';
import { isAdbFormat, parseApkIndex, type IndexPackage, type Repository } from './apkindex.js';
import { splitGzipMembers } from './gzip.js';
import type { TrustedKey } from './keys.js';
import { verifySignature } from './signature.js';
import { readTar } from './tar.js';

/** GET `url` into memory (http or https, Node's fetch); errors name the URL. */
export async function download(ctx: BuildContext, url: string, what: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: ctx.signal });
  } catch (e) {
    if (ctx.signal?.aborted) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new OsbError(`cannot fetch ${what} from ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, 'check --mirror and the network (http_proxy/https_proxy are not used by osb\'s downloader)');
  }
  if (!res.ok) {
    throw new OsbError(`cannot fetch ${what}: ${url} answered ${res.status} ${res.statusText}`.trimEnd(), res.status === 404 ? 'check --mirror, --os-version and --arch: the mirror has no such file' : 'try again, or another --mirror');
  }
  return Buffer.from(await res.arrayBuffer());
}

/** The repositories of a build, in apk's order of preference (main before community). */
export function repositories(mirror: string, release: string, components: readonly string[]): Repository[] {
  const base = mirror.replace(/\/+$/, '');
  return components.map((name) => ({ name, url: `${base}/${release}/${name}` }));
}

export const indexUrl = (repo: Repository, arch: string) => `${repo.url}/${arch}/APKINDEX.tar.gz`;

/** Verify a downloaded APKINDEX.tar.gz and return its packages and the key that signed it. */
export function readSignedIndex(bytes: Buffer, repo: Repository, trusted: ReadonlyMap<string, TrustedKey>, what: string): { packages: IndexPackage[]; signer: string } {
  if (isAdbFormat(bytes)) {
    throw new OsbError(`${what} is in apk v3 (adb) format, which osb does not read`, 'use a branch that still publishes v2 indexes (APKINDEX.tar.gz with .SIGN.RSA signatures), e.g. --os-version v3.22');
  }
  const members = splitGzipMembers(bytes, what);
  const signer = verifySignature(members, trusted, what);
  // Only what the signature covers is read: every member after the signature.
  const tar = Buffer.concat(members.slice(1).map((m) => m.data));
  const entry = readTar(tar, what).find((e) => e.name === 'APKINDEX' && e.type === 'file');
  if (!entry) throw new OsbError(`${what} has no APKINDEX file inside`, 'the mirror serves something else at this path; check --mirror');
  return { packages: parseApkIndex(entry.data.toString('utf8'), what, repo), signer };
}

/** Fetch and verify the index of every repository; packages in repository order. */
export async function fetchIndexes(ctx: BuildContext, repos: readonly Repository[], arch: string, trusted: ReadonlyMap<string, TrustedKey>): Promise<IndexPackage[]> {
  const all: IndexPackage[] = [];
  for (const repo of repos) {
    const url = indexUrl(repo, arch);
    const what = `the ${repo.name} index (${url})`;
    const { packages, signer } = readSignedIndex(await download(ctx, url, `the ${repo.name} index`), repo, trusted, what);
    ctx.log.info(`${repo.name}: ${packages.length} packages, index signed by ${signer}`);
    all.push(...packages);
  }
  return all;
}
