/**
 * The early scrypt of a signing run: started by the launcher from the command line and the
 * environment, taken by loadPrivateKey only for the same passphrase, and never started for a key
 * osb would refuse (a cost over its limit).
 */
import { afterAll, expect, test } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKeyDerivation } from '../../signing/kdf.js';
import { generateKeyPair, loadPrivateKey } from '../../signing/keys.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';

afterAll(removeTempDirs);

const early = () => (globalThis as Record<symbol, Map<string, unknown> | undefined>)[Symbol.for('osb.scrypt')] ?? new Map();

test('the key opened after an early start is the key; a wrong passphrase is still refused; a costly key starts nothing', async () => {
  const dir = tempDir('osb-kdf-');
  const key = join(dir, 'cosign.key');
  const pair = generateKeyPair('right');
  writeFileSync(key, pair.privatePem);
  const plain = await loadPrivateKey(key, () => 'right');

  // A dry run signs nothing: nothing is started that the process would wait for.
  startKeyDerivation(['publish', '--sign-key', key, '--dry-run'], { OSB_SIGN_PASSWORD: 'right' });
  expect(early().size).toBe(0);
  startKeyDerivation(['publish', '--sign-key', key], { OSB_SIGN_PASSWORD: 'right' });
  expect(early().size).toBe(1);
  const opened = await loadPrivateKey(key, () => 'right');
  expect(early().size).toBe(0); // taken
  expect(opened.export({ type: 'pkcs8', format: 'der' })).toEqual(plain.export({ type: 'pkcs8', format: 'der' }));

  startKeyDerivation([`--sign-key=${key}`], { COSIGN_PASSWORD: 'wrong' });
  await expect(loadPrivateKey(key, () => 'wrong')).rejects.toThrow(`wrong passphrase for ${key}`);

  // A document asking for 2^20 * 32 * 128 bytes of scrypt memory: refused by loadPrivateKey, never started early.
  const doc = JSON.parse(Buffer.from(/-----BEGIN [A-Z ]+-----\n([\s\S]*?)-----END/.exec(pair.privatePem)![1]!.replace(/\s+/g, ''), 'base64').toString('utf8')) as { kdf: { params: { N: number; r: number } } };
  doc.kdf.params = { ...doc.kdf.params, N: 1 << 20, r: 32 };
  const costly = join(dir, 'costly.key');
  writeFileSync(costly, `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(doc)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`);
  startKeyDerivation(['--sign-key', costly], { OSB_SIGN_PASSWORD: 'right' });
  expect(early().size).toBe(0);
  await expect(loadPrivateKey(costly, () => 'right')).rejects.toThrow(/unsupported key derivation/);
});
