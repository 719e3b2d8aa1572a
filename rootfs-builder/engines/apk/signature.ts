/**
 * apk v2 signatures. abuild-sign prepends a gzip member holding a tar with one entry,
 * `.SIGN.RSA.<key name>` (RSA PKCS#1 v1.5 over the SHA-1 of the signed bytes) or
 * `.SIGN.RSA256.<key name>` (over SHA-256); the signed bytes are the raw compressed members that
 * follow. Like apk-tools (src/package.c, apk_sign_ctx), the first signature by a trusted key
 * decides; a signature by a key osb does not know is not an error while another one verifies.
 */
import { createVerify } from 'node:crypto';
import { OsbError } from '../../../lib/errors.js';
import type { GzipMember } from './gzip.js';
import type { TrustedKey } from './keys.js';
import { readTar } from './tar.js';

export interface SignatureEntry {
  readonly keyName: string;
  readonly digest: 'sha1' | 'sha256';
  readonly signature: Buffer;
}

/** The `.SIGN.*` entries of a member, in archive order (empty when the member is not a signature). */
export function signatureEntries(member: GzipMember, what: string): SignatureEntry[] {
  const out: SignatureEntry[] = [];
  for (const e of readTar(member.data, what)) {
    const m = /^\.SIGN\.(RSA|RSA256)\.(.+)$/.exec(e.name);
    if (m && e.type === 'file') out.push({ keyName: m[2]!, digest: m[1] === 'RSA' ? 'sha1' : 'sha256', signature: e.data });
  }
  return out;
}

/**
 * Check that `members[0]` is a signature over the raw bytes of the rest, by a key in `trusted`.
 * Returns the key's name. Throws an OsbError saying which of unsigned / untrusted / altered.
 */
export function verifySignature(members: readonly GzipMember[], trusted: ReadonlyMap<string, TrustedKey>, what: string): string {
  const sigs = members.length > 1 ? signatureEntries(members[0]!, what) : [];
  if (sigs.length === 0) {
    throw new OsbError(`${what} is not signed`, 'osb installs only from signed repositories; sign the index with abuild-sign');
  }
  const signed = Buffer.concat(members.slice(1).map((m) => m.raw));
  for (const s of sigs) {
    const key = trusted.get(s.keyName);
    if (!key) continue;
    const ok = createVerify(s.digest === 'sha1' ? 'RSA-SHA1' : 'RSA-SHA256').update(signed).verify(key.key, s.signature);
    if (!ok) {
      throw new OsbError(`${what}: the signature by ${s.keyName} does not match the content: the file was altered or is damaged`, 'do not use this mirror until the index verifies; try another --mirror');
    }
    return s.keyName;
  }
  throw new OsbError(
    `${what} is signed by ${sigs.map((s) => s.keyName).join(', ')}, which osb does not trust`,
    `trusted keys: ${[...trusted.keys()].join(', ')}; add the repository's public key with --keys-dir DIR (its file name must be the key name)`,
  );
}
