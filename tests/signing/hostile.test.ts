/**
 * Keys, payloads and envelopes from elsewhere, treated as hostile: each is refused with what is
 * wrong, before it costs memory or is believed. openssl is the oracle for the key osb writes.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePayload, simpleSigningPayload, signBytes, verifyBytes } from '../../signing/cosign.js';
import { openEnvelope, pae, signEnvelope, statement } from '../../signing/dsse.js';
import { generateKeyPair, loadPrivateKey, loadPublicKey } from '../../signing/keys.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-signing-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const pemOf = (doc: unknown) => `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(doc)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;

describe('keys', () => {
  test('a key written with a passphrase opens with it, and its public half is what openssl derives', async () => {
    const k = generateKeyPair('s3cret');
    const key = await loadPrivateKey(write('k.key', k.privatePem), () => 's3cret');
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(k.publicPem);
    const der = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(execFileSync('openssl', ['pkey', '-pubout'], { input: der, encoding: 'utf8' })).toBe(k.publicPem);
    await expect(loadPrivateKey(join(dir, 'k.key'), () => 'wrong')).rejects.toThrow(/^wrong passphrase for /);
  });

  test('a key document asking for more scrypt memory than cosign uses, another cipher, or a short nonce is refused before any work', async () => {
    const base = JSON.parse(Buffer.from(generateKeyPair('').privatePem.split('\n').slice(1, -2).join(''), 'base64').toString()) as Record<string, Record<string, unknown>>;
    const huge = write('huge.key', pemOf({ ...base, kdf: { ...base.kdf, params: { N: 2 ** 30, r: 8, p: 1 } } }));
    await expect(loadPrivateKey(huge, () => '')).rejects.toThrow(/unsupported key derivation/);
    const wide = write('wide.key', pemOf({ ...base, kdf: { ...base.kdf, params: { N: 2 ** 20, r: 32, p: 1 } } })); // 4 GiB
    await expect(loadPrivateKey(wide, () => '')).rejects.toThrow(/scrypt using at most 256 MiB/);
    const cipher = write('cipher.key', pemOf({ ...base, cipher: { ...base.cipher, name: 'aes' } }));
    await expect(loadPrivateKey(cipher, () => '')).rejects.toThrow(/unsupported cipher/);
    const nonce = write('nonce.key', pemOf({ ...base, cipher: { name: 'nacl/secretbox', nonce: 'AAAA' } }));
    await expect(loadPrivateKey(nonce, () => '')).rejects.toThrow(/nonce is 3 bytes, not 24/);
    await expect(loadPrivateKey(write('junk.key', 'hello\n'), () => '')).rejects.toThrow(/is not a signing key/);
  });

  test('an RSA key is refused: osb signs with ECDSA P-256, as cosign', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await expect(loadPrivateKey(write('rsa.key', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), () => '')).rejects.toThrow(/holds a rsa key; osb signs with ECDSA P-256/);
  });
});

describe('payloads and envelopes', () => {
  const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const digest = `sha256:${'a'.repeat(64)}`;

  test('a simple-signing payload verifies with its key only, and says what it claims', () => {
    const p = simpleSigningPayload('reg.example/x:1', digest, 'osb test');
    const sig = signBytes(k.privateKey, p);
    expect(verifyBytes(k.publicKey, p, sig)).toBe(true);
    expect(verifyBytes(other.publicKey, p, sig)).toBe(false);
    expect(verifyBytes(k.publicKey, Buffer.concat([p, Buffer.from(' ')]), sig)).toBe(false);
    expect(verifyBytes(k.publicKey, p, 'not base64 at all!')).toBe(false);
    expect(parsePayload(p)).toEqual({ dockerReference: 'reg.example/x:1', manifestDigest: digest });
  });

  test('payloads that are not what containers/image writes are named as such', () => {
    expect(parsePayload(Buffer.from('{'))).toBe('the payload is not JSON');
    expect(parsePayload(Buffer.from('null'))).toBe('the payload has no critical section');
    expect(parsePayload(Buffer.from(JSON.stringify({ critical: { type: 'atomic container signature' } })))).toMatch(/^the payload's type is "atomic container signature"/);
    expect(parsePayload(Buffer.from(JSON.stringify({ critical: { type: 'cosign container image signature', identity: { 'docker-reference': 'x' }, image: { 'docker-manifest-digest': 'md5:1' } } })))).toMatch(/no docker-reference or sha256/);
  });

  test('a DSSE envelope opens with its key over the PAE; a changed payload, another key, or a statement that is not in-toto do not', () => {
    const body = statement([{ name: 'f', sha256: 'b'.repeat(64) }], 'https://example/p', { x: 1 });
    const env = signEnvelope(k.privateKey, k.publicKey, body);
    const ok = openEnvelope(k.publicKey, Buffer.from(JSON.stringify(env)));
    expect(ok).toEqual({ predicateType: 'https://example/p', subjects: [{ name: 'f', sha256: 'b'.repeat(64) }] });
    expect(openEnvelope(other.publicKey, Buffer.from(JSON.stringify(env)))).toMatch(/has no signature by this key/);
    const changed = { ...env, payload: Buffer.from(body.toString().replace('"x":1', '"x":2')).toString('base64') };
    expect(openEnvelope(k.publicKey, Buffer.from(JSON.stringify(changed)))).toMatch(/has no signature by this key/);
    const plain = Buffer.from('{"hello":1}');
    const notIntoto = { payloadType: 'application/vnd.in-toto+json', payload: plain.toString('base64'), signatures: [{ keyid: '', sig: sign('sha256', pae('application/vnd.in-toto+json', plain), k.privateKey).toString('base64') }] };
    expect(openEnvelope(k.publicKey, Buffer.from(JSON.stringify(notIntoto)))).toBe('signs something that is not an in-toto statement');
    expect(openEnvelope(k.publicKey, Buffer.from('[]'))).toMatch(/is not a DSSE envelope/);
    expect(openEnvelope(k.publicKey, Buffer.from(JSON.stringify({ ...env, payloadType: 'text/plain' })))).toMatch(/not an in-toto statement/);
  });

  test('a public key file that is not one is refused with one line', () => {
    expect(() => loadPublicKey(write('bad.pub', 'nope'))).toThrow(/is not a PEM public key/);
    expect(loadPublicKey(write('good.pub', k.publicKey.export({ type: 'spki', format: 'pem' }).toString())).asymmetricKeyType).toBe('ec');
  });
});
