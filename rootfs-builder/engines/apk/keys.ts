/**
 * The keys osb trusts for an apk repository: the distro's own for the target architecture
 * (shipped with osb under distros/keys/<distro>/<arch>/) plus every key in --keys-dir. As in
 * /etc/apk/keys, a key's name is its file name, and a signature names the key that made it.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { OsbError } from '../../../lib/errors.js';
import { packagePath } from '../../../lib/package-root.js';

export interface TrustedKey {
  readonly name: string;
  /** The file's bytes, copied as they are into the rootfs's /etc/apk/keys. */
  readonly pem: Buffer;
  readonly key: KeyObject;
  /** 'builtin' or the --keys-dir it came from. */
  readonly source: string;
}

/** The signing keys shipped with osb: distros/keys/ in its package. */
export function builtinKeysRoot(): string {
  return packagePath('distros', 'keys');
}

async function readKey(path: string, source: string): Promise<TrustedKey> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch {
    throw new OsbError(`signing key ${path} cannot be read`, 'check the key path of the repository');
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new OsbError(`${path} is not a PEM public key`, source === 'builtin' ? 'reinstall osb' : `keys must be public keys (*.rsa.pub), named as the repository's signatures name them`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new OsbError(`${path} is not an RSA public key`, 'apk v2 repositories are signed with RSA keys');
  return { name: basename(path), pem, key, source };
}

async function keysIn(dir: string, source: string): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    if (name.startsWith('.') || !(await stat(path)).isFile()) continue;
    keys.push(await readKey(path, source));
  }
  return keys;
}

/** The distro's keys for `distroArch` followed by those of `keysDir` (which win on a name clash). */
export async function loadTrustedKeys(distroName: string, distroArch: string, keysDir: string | undefined, keyFiles: readonly string[] = []): Promise<Map<string, TrustedKey>> {
  const trusted = new Map<string, TrustedKey>();
  // Keys of extra repositories (osb.yaml repos), named by their file names as in /etc/apk/keys.
  for (const f of keyFiles) trusted.set(basename(f), await readKey(f, f));
  const builtin = join(builtinKeysRoot(), distroName, distroArch);
  if (existsSync(builtin)) for (const k of await keysIn(builtin, 'builtin')) trusted.set(k.name, k);
  if (keysDir) {
    let st;
    try {
      st = await stat(keysDir);
    } catch {
      throw new OsbError(`--keys-dir ${keysDir} does not exist`, 'pass a directory holding the repository public keys (*.rsa.pub)');
    }
    if (!st.isDirectory()) throw new OsbError(`--keys-dir ${keysDir} is not a directory`, 'pass a directory holding the repository public keys (*.rsa.pub)');
    for (const k of await keysIn(keysDir, keysDir)) trusted.set(k.name, k);
  }
  if (trusted.size === 0) {
    throw new OsbError(`osb has no signing keys for ${distroName} on ${distroArch}`, 'pass the repository public keys with --keys-dir DIR');
  }
  return trusted;
}
