/**
 * A repository key given as an http(s) URL (image-build's `gpg:`), fetched once: the first build
 * downloads it with curl into the cache, under a name made from the URL, and every later build
 * uses that copy (trust on first use, never re-fetched, so a key changed on the server does not
 * silently change what is trusted). Its fingerprint is printed and goes into the build record.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';

export interface FetchedKey {
  readonly url: string;
  readonly path: string;
  readonly fingerprints: readonly string[];
  readonly sha256: string;
  /** Fetched by this build (false: the cached copy of an earlier one). */
  readonly fetched: boolean;
}

/** The fingerprints of the OpenPGP keys in an armored file, read by gpg (no keyring touched). */
async function fingerprints(ctx: BuildContext, path: string): Promise<string[]> {
  const home = await mkdtemp(join(tmpdir(), 'osb-gpg-'));
  const r = await ctx.run(['gpg', '--batch', '--with-colons', '--show-keys', path], { readOnly: true, quiet: true, allowFail: true, env: { GNUPGHOME: home } }).finally(() => rm(home, { recursive: true, force: true }));
  return [...r.stdout.matchAll(/^fpr:+([0-9A-F]{40,64}):/gm)].map((m) => m[1]!).filter((f, i, a) => a.indexOf(f) === i);
}

/**
 * Download `url` into the cache once (curl, http(s) only, at most `maxBytes`); later calls return
 * the cached copy. `check` runs on the downloaded file before it takes its final name.
 */
export async function fetchOnce(ctx: BuildContext, url: string, cacheDir: string, proxy?: string, o: { check?: (path: string) => Promise<void>; maxBytes?: number; ext?: string; what?: string } = {}): Promise<{ path: string; fetched: boolean }> {
  const path = join(cacheDir, 'downloads', `${createHash('sha256').update(url).digest('hex').slice(0, 32)}${o.ext ?? ''}`);
  if (existsSync(path)) return { path, fetched: false };
  if (ctx.dryRun) {
    ctx.log.info(`would fetch ${url} once into ${path}`);
    return { path, fetched: false };
  }
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.part-${process.pid}`;
  try {
    const r = await ctx.run(['curl', '--fail', '--silent', '--show-error', '--location', '--max-filesize', String(o.maxBytes ?? 64 << 20), '--max-time', '300', '--proto', '=http,https', '--proto-redir', '=http,https', ...(proxy ? ['--proxy', proxy] : []), '--output', tmp, url], { allowFail: true });
    if (r.exitCode !== 0) throw new OsbError(`cannot fetch ${o.what ?? ''}${o.what ? ' ' : ''}${url}: ${r.stderr.trim().split('\n').at(-1) || `curl exit code ${r.exitCode}`}`, 'check the URL, or give a file instead');
    await o.check?.(tmp);
    await rename(tmp, path);
    return { path, fetched: true };
  } finally {
    await rm(tmp, { force: true });
  }
}

export async function fetchKeyOnce(ctx: BuildContext, url: string, cacheDir: string, proxy?: string): Promise<FetchedKey> {
  const { path, fetched } = await fetchOnce(ctx, url, cacheDir, proxy, {
    ext: '.asc',
    maxBytes: 1 << 20,
    what: 'the signing key',
    check: async (tmp) => {
      if (!(await readFile(tmp, 'utf8')).includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) throw new OsbError(`${url} is not an armored OpenPGP public key`, "point gpg: at the repository's RPM-GPG-KEY file");
    },
  });
  if (ctx.dryRun && !existsSync(path)) return { url, path, fingerprints: [], sha256: '', fetched: false };
  const fprs = await fingerprints(ctx, path);
  if (!fprs.length) throw new OsbError(`the signing key ${url} (cached at ${path}) holds no OpenPGP public key gpg can read`, `remove ${path} to fetch it again`);
  const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
  ctx.log.info(`${fetched ? 'fetched' : 'using the copy fetched earlier of'} ${url}: fingerprint ${fprs.join(', ')}`);
  return { url, path, fingerprints: fprs, sha256, fetched };
}
