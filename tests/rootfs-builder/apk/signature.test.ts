/**
 * Trust: Alpine's shipped keys, --keys-dir, and index signatures made by openssl the way
 * abuild-sign makes them (RSA over SHA-1 and SHA-256); unsigned, untrusted, altered and apk v3
 * indexes are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSignedIndex } from '../../../rootfs-builder/engines/apk/index-fetch.js';
import { builtinKeysRoot, loadTrustedKeys, type TrustedKey } from '../../../rootfs-builder/engines/apk/keys.js';
import { makeKey, type TestKey } from './helpers/abuild.js';
import { buildIndex } from './helpers/apk-package.js';

const STANZA = 'C:Q1ZrCkWfPSKVhB0HY35Td4j3MDPOg=\nP:busybox\nV:1.36.1-r29\nA:x86_64\nS:1\nI:1\nT:t\nU:u\nL:MIT\n';
const repo = { name: 'main', url: 'http://127.0.0.1:1/v3.22/main' };
let dir: string;
let key: TestKey;
let trusted: Map<string, TrustedKey>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'osb-sig-'));
  key = makeKey(join(dir, 'private'), 'sig');
  mkdirSync(join(dir, 'keys'));
  writeFileSync(join(dir, 'keys', key.name), key.publicPem);
  trusted = await loadTrustedKeys('alpine', 'x86_64', join(dir, 'keys'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Alpine's keys shipped with osb", () => {
  test('each architecture has its keys, byte for byte as listed in aports alpine-keys', () => {
    const root = join(builtinKeysRoot(), 'alpine');
    const sums = new Map(readFileSync(join(root, 'SHA512SUMS'), 'utf8').trim().split('\n').map((l) => [l.split('  ')[1]!, l.split('  ')[0]!]));
    const expected: Record<string, string[]> = {
      x86_64: ['4a6a0840', '5261cecb', '6165ee59'],
      aarch64: ['58199dcc', '616ae350'],
      ppc64le: ['58cbb476', '616abc23'],
      s390x: ['58e4f17d', '616ac3bc'],
      riscv64: ['60ac2099', '616db30d'],
    };
    for (const [arch, ids] of Object.entries(expected)) {
      const names = readdirSync(join(root, arch)).sort();
      expect(names).toEqual(ids.map((id) => `alpine-devel@lists.alpinelinux.org-${id}.rsa.pub`));
      for (const n of names) expect(createHash('sha512').update(readFileSync(join(root, arch, n))).digest('hex')).toBe(sums.get(n));
    }
  });

  test('loadTrustedKeys: the arch folder plus --keys-dir, by file name', async () => {
    expect([...trusted.keys()].sort()).toEqual([
      'alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub',
      'alpine-devel@lists.alpinelinux.org-5261cecb.rsa.pub',
      'alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub',
      key.name,
    ]);
    expect(trusted.get('alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub')!.key.asymmetricKeyDetails?.modulusLength).toBe(4096);
    expect([...(await loadTrustedKeys('alpine', 'aarch64', undefined)).keys()]).toHaveLength(2);
  });

  test('a --keys-dir that is missing or holds something else is refused', async () => {
    await expect(loadTrustedKeys('alpine', 'x86_64', join(dir, 'nope'))).rejects.toThrow(`--keys-dir ${join(dir, 'nope')} does not exist`);
    mkdirSync(join(dir, 'junk'));
    writeFileSync(join(dir, 'junk', 'notes.txt'), 'not a key');
    await expect(loadTrustedKeys('alpine', 'x86_64', join(dir, 'junk'))).rejects.toThrow(`${join(dir, 'junk', 'notes.txt')} is not a PEM public key`);
  });
});

describe('index signatures', () => {
  test('an index signed with RSA/SHA-1 (.SIGN.RSA.) reads, and names its signer', () => {
    const r = readSignedIndex(buildIndex([STANZA], key), repo, trusted, 'the index');
    expect(r.signer).toBe(key.name);
    expect(r.packages.map((p) => `${p.name}-${p.version}`)).toEqual(['busybox-1.36.1-r29']);
    expect(r.packages[0]!.repo).toEqual(repo);
  });

  test('an index signed with RSA/SHA-256 (.SIGN.RSA256.) reads too', () => {
    expect(readSignedIndex(buildIndex([STANZA], key, { digest: 'sha256' }), repo, trusted, 'the index').signer).toBe(key.name);
  });

  test('unsigned, unknown key, altered content: each refused with its own message', () => {
    expect(() => readSignedIndex(buildIndex([STANZA], null), repo, trusted, 'the main index')).toThrow(/^the main index is not signed$/);
    const stranger = makeKey(join(dir, 'private'), 'stranger');
    expect(() => readSignedIndex(buildIndex([STANZA], stranger), repo, trusted, 'the main index')).toThrow(`the main index is signed by ${stranger.name}, which osb does not trust`);
    const good = buildIndex([STANZA], key);
    const sigLength = good.length - buildIndex([STANZA], null).length;
    const altered = Buffer.concat([good.subarray(0, sigLength), buildIndex([STANZA.replace('1.36.1-r29', '1.36.1-r30')], null)]);
    expect(() => readSignedIndex(altered, repo, trusted, 'the main index')).toThrow(`the main index: the signature by ${key.name} does not match the content: the file was altered or is damaged`);
  });

  test('an apk v3 (adb) index is refused with a clear message', () => {
    const adb = Buffer.concat([Buffer.from('ADBd'), Buffer.alloc(64, 1)]);
    expect(() => readSignedIndex(adb, repo, trusted, 'the main index')).toThrow('the main index is in apk v3 (adb) format, which osb does not read');
  });
});
