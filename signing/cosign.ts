/**
 * Image signatures as cosign makes them and containers/image checks them (containers-signature(5),
 * "sigstore signatures"): a simple-signing payload naming the reference and the manifest digest,
 * and an ECDSA-SHA256 signature over its bytes, ASN.1 DER, base64.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { DIGEST } from '../lib/foreign.js';

export const SIMPLESIGNING_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

/** The payload containers/image writes: `critical` with exactly these keys, `optional` with the creator. */
export function simpleSigningPayload(dockerReference: string, manifestDigest: string, creator: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': manifestDigest }, type: COSIGN_SIGNATURE_TYPE },
      optional: { creator },
    }),
  );
}

export const signBytes = (key: KeyObject, bytes: Buffer): string => sign('sha256', bytes, key).toString('base64');

export function verifyBytes(key: KeyObject, bytes: Buffer, signatureB64: string): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  if (!sig.length || sig.length > 1024) return false;
  try {
    return verify('sha256', bytes, key, sig);
  } catch {
    return false;
  }
}

export interface SignedClaim {
  readonly dockerReference: string;
  readonly manifestDigest: string;
}

/**
 * What a payload claims, or a reason it is not a simple-signing payload. The payload comes from
 * a registry: every field is checked, and only after its signature has verified is it believed.
 */
export function parsePayload(bytes: Buffer): SignedClaim | string {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'the payload is not JSON';
  }
  const c = (doc as { critical?: { identity?: { 'docker-reference'?: unknown }; image?: { 'docker-manifest-digest'?: unknown }; type?: unknown } } | null)?.critical;
  if (!c || typeof c !== 'object') return 'the payload has no critical section';
  if (c.type !== COSIGN_SIGNATURE_TYPE) return `the payload's type is ${JSON.stringify(c.type ?? null).slice(0, 60)}, not '${COSIGN_SIGNATURE_TYPE}'`;
  const ref = c.identity?.['docker-reference'];
  const digest = c.image?.['docker-manifest-digest'];
  if (typeof ref !== 'string' || typeof digest !== 'string' || !DIGEST.test(digest)) return 'the payload names no docker-reference or sha256 docker-manifest-digest';
  return { dockerReference: ref, manifestDigest: digest };
}

/** cosign's tag for what is attached to the image `digest`: sha256-HEX.sig, .att. */
export const attachmentTag = (digest: string, kind: 'sig' | 'att'): string => `${digest.replace(':', '-')}.${kind}`;
