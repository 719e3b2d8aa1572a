/**
 * Registry credentials and challenges: where `podman login` and `docker login` keep them, and
 * the WWW-Authenticate header a registry answers 401 with (RFC 7235; the distribution spec's
 * token flow: https://distribution.github.io/distribution/spec/auth/token/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OsbError } from '../lib/errors.js';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Challenge {
  readonly scheme: 'basic' | 'bearer';
  readonly params: Readonly<Record<string, string>>;
}

/** `user:pass` (--creds); the password may itself hold colons. */
export function parseCreds(value: string): Credentials {
  const i = value.indexOf(':');
  if (i <= 0) throw new OsbError("--creds must be USER:PASSWORD", 'give both, e.g. --creds ci:s3cret');
  return { username: value.slice(0, i), password: value.slice(i + 1) };
}

/** The auth files in the order podman reads them, then Docker's. */
export function authFiles(environ: NodeJS.ProcessEnv = process.env): string[] {
  const home = environ.HOME ?? homedir();
  return [
    ...(environ.REGISTRY_AUTH_FILE ? [environ.REGISTRY_AUTH_FILE] : []),
    ...(environ.XDG_RUNTIME_DIR ? [join(environ.XDG_RUNTIME_DIR, 'containers', 'auth.json')] : []),
    join(environ.XDG_CONFIG_HOME ?? join(home, '.config'), 'containers', 'auth.json'),
    join(environ.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'),
  ];
}

/**
 * Credentials for HOST/REPO from the first auth file that has an entry: the most specific key
 * wins (containers-auth.json(5) allows HOST/NAMESPACE/REPO keys), and Docker's https:// keys match.
 */
export function findCredentials(host: string, repo: string, environ: NodeJS.ProcessEnv = process.env): (Credentials & { file: string }) | undefined {
  const parts = repo.split('/');
  const keys = parts.map((_, i) => `${host}/${parts.slice(0, parts.length - i).join('/')}`).concat(host);
  for (const file of authFiles(environ)) {
    if (!existsSync(file)) continue;
    let auths: Record<string, { auth?: string }>;
    try {
      auths = (JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, { auth?: string }> }).auths ?? {};
    } catch (e) {
      throw new OsbError(`cannot read registry credentials from ${file}: ${(e as Error).message}`, 'fix the JSON, or give --creds USER:PASSWORD');
    }
    const normalized = new Map(Object.entries(auths).map(([k, v]) => [k.replace(/^https?:\/\//, '').replace(/\/+$/, '').replace(/\/v[12]$/, ''), v]));
    for (const k of keys) {
      const a = normalized.get(k)?.auth;
      if (a) return { ...parseCreds(Buffer.from(a, 'base64').toString('utf8')), file };
    }
  }
  return undefined;
}

/** The first challenge of a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  const m = header ? /^\s*(basic|bearer)\b\s*(.*)$/i.exec(header) : null;
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase() as 'basic' | 'bearer', params };
}

export const basicHeader = (c: Credentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
