/**
 * Signing keys in the forms cosign and containers/image read: an ECDSA P-256 key pair, the
 * public key as a PKIX `PUBLIC KEY` PEM, the private key as sigstore's encrypted PEM (a JSON
 * document of go-securesystemslib's `encrypted` package: scrypt over the passphrase, then NaCl
 * secretbox over the PKCS#8 DER). Node's crypto does scrypt and ECDSA; tweetnacl does the
 * secretbox (XSalsa20-Poly1305), which Node's crypto lacks.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scryptSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nacl from 'tweetnacl';
import { UsageError } from '../lib/errors.js';
import { deriveKey, ENCRYPTED_PEMS, scryptParamsOf } from './kdf.js';

/** The PEM type cosign 2 writes; cosign 1 and containers/image 5.23 read the older name too. */
export const PRIVATE_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
const PRIVATE_PEMS = ENCRYPTED_PEMS;

/** cosign's scrypt cost (N=2^15, r=8, p=1): about 0.1 s per key use. */
const SCRYPT = { N: 32768, r: 8, p: 1 } as const;

export interface KeyPair {
  readonly privatePem: string;
  readonly publicPem: string;
}

const pem = (type: string, der: Buffer): string => `-----BEGIN ${type}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${type}-----\n`;

const scryptOptions = (p: { N: number; r: number; p: number }) => ({ N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + (1 << 20) });

function scryptKey(passphrase: string, salt: Buffer, p: { N: number; r: number; p: number }): Uint8Array {
  return scryptSync(Buffer.from(passphrase, 'utf8'), salt, 32, scryptOptions(p));
}

/** A fresh P-256 key pair; the private key encrypted with `passphrase` (may be empty, as cosign allows). */
export function generateKeyPair(passphrase: string): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const box = nacl.secretbox(new Uint8Array(der), new Uint8Array(nonce), scryptKey(passphrase, salt, SCRYPT));
  const doc = {
    kdf: { name: 'scrypt', params: SCRYPT, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(box).toString('base64'),
  };
  return { privatePem: pem(PRIVATE_PEM, Buffer.from(JSON.stringify(doc))), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The body of the first PEM block of one of `types`, or undefined. */
function pemBody(text: string, types: readonly string[]): { type: string; der: Buffer } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m || !types.includes(m[1]!)) return undefined;
  return { type: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') };
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'write one with `osb keygen`, or give the right path');
  }
}

/**
 * The private key from a sigstore encrypted PEM (or a plain PKCS#8 / SEC1 EC PEM), decrypted
 * with `passphrase`. Every field of the foreign document is checked before use.
 */
export async function loadPrivateKey(path: string, passphrase: () => string): Promise<KeyObject> {
  const text = readKeyFile(path, 'signing key');
  const enc = pemBody(text, PRIVATE_PEMS);
  let key: KeyObject;
  if (!enc) {
    try {
      key = createPrivateKey(text);
    } catch {
      throw new UsageError(`${path} is not a signing key (no ${PRIVATE_PEM} or PRIVATE KEY PEM block)`, 'give the cosign.key `osb keygen` or `cosign generate-key-pair` wrote');
    }
  } else {
    let doc: { kdf?: { name?: unknown; params?: { N?: unknown; r?: unknown; p?: unknown }; salt?: unknown }; cipher?: { name?: unknown; nonce?: unknown }; ciphertext?: unknown };
    try {
      doc = JSON.parse(enc.der.toString('utf8')) as typeof doc;
    } catch {
      throw new UsageError(`${path}: the ${enc.type} block is not the JSON document cosign writes`, 'write the key again with `osb keygen`');
    }
    const kdf = scryptParamsOf(doc);
    if (typeof kdf === 'string') throw new UsageError(`${path}: ${kdf}`, 'write the key again with `osb keygen`');
    if (doc.cipher?.name !== 'nacl/secretbox' || typeof doc.cipher.nonce !== 'string' || typeof doc.ciphertext !== 'string') {
      throw new UsageError(`${path}: unsupported cipher (osb reads nacl/secretbox, as cosign writes)`, 'write the key again with `osb keygen`');
    }
    const nonce = Buffer.from(doc.cipher.nonce, 'base64');
    if (nonce.length !== 24) throw new UsageError(`${path}: the secretbox nonce is ${nonce.length} bytes, not 24`, 'write the key again with `osb keygen`');
    const k = await deriveKey(passphrase(), kdf);
    const der = nacl.secretbox.open(new Uint8Array(Buffer.from(doc.ciphertext, 'base64')), new Uint8Array(nonce), k);
    if (!der) throw new UsageError(`wrong passphrase for ${path}`, 'set OSB_SIGN_PASSWORD (or COSIGN_PASSWORD) to the passphrase the key was written with');
    try {
      key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    } catch {
      throw new UsageError(`${path} decrypts to something that is not a PKCS#8 private key`, 'write the key again with `osb keygen`');
    }
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new UsageError(`${path} holds a ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''} key; osb signs with ECDSA P-256, as cosign does`, 'write a key with `osb keygen`');
  }
  return key;
}

/** A PKIX `PUBLIC KEY` PEM (cosign.pub) of an EC P-256 key. */
export function loadPublicKey(path: string): KeyObject {
  const text = readKeyFile(path, 'public key');
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch {
    throw new UsageError(`${path} is not a PEM public key`, 'give the cosign.pub `osb keygen` or `cosign generate-key-pair` wrote');
  }
  if (key.asymmetricKeyType !== 'ec') throw new UsageError(`${path} holds a ${key.asymmetricKeyType} key; osb verifies ECDSA signatures, as cosign makes`, 'give the cosign.pub of the signing key');
  return key;
}
