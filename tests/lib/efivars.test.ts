/**
 * lib/efivars.ts, the offline OVMF variable store (OVMF itself is the oracle of what it holds:
 * tests/uki-builder/boot.slow.ts boots under it). Here: what a user notices before a boot, that
 * the same key gives the same store, and that a file that is not an empty store is one line.
 */
import { describe, expect, test } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { enrollKeys, guidBytes, storeVariables, x509SignatureList } from '../../lib/efivars.js';

const TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const SNAKEOIL = '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd';
const run = existsSync(TEMPLATE) && existsSync(SNAKEOIL) ? describe : describe.skip;
const owner = '0d3b1c9e-2f4a-4b5c-8d6e-7f8091a2b3c4';
const time = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));

run('enrollKeys', () => {
  // Any DER does for the layout; OVMF reads the real certificates in the boot test.
  const der = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });

  test("the same certificate, owner and time give the same store; the firmware's variables beyond the store are untouched", () => {
    const t = readFileSync(TEMPLATE);
    const a = enrollKeys(t, { cert: der, owner, time });
    expect(enrollKeys(t, { cert: der, owner, time }).equals(a)).toBe(true);
    expect(a.length).toBe(t.length);
    expect(a.subarray(0x41000).equals(t.subarray(0x41000))).toBe(true);
  });

  test('PK, KEK and db hold the certificate as the snakeoil store holds its own: the same attributes and signature list layout', () => {
    const mine = storeVariables(enrollKeys(readFileSync(TEMPLATE), { cert: der, owner, time }));
    const theirs = storeVariables(readFileSync(SNAKEOIL));
    for (const name of ['PK', 'KEK', 'db', 'SecureBootEnable', 'CustomMode']) {
      const m = mine.find((v) => v.name === name)!;
      const t = theirs.filter((v) => v.name === name).at(-1)!;
      expect({ name, vendor: m.vendor, attributes: m.attributes }).toEqual({ name, vendor: t.vendor, attributes: t.attributes });
      if (['PK', 'KEK', 'db'].includes(name)) {
        // EFI_SIGNATURE_LIST: the X.509 type, then sizes, then owner and certificate.
        expect(m.data.subarray(0, 16).equals(t.data.subarray(0, 16))).toBe(true);
        expect(m.data.equals(x509SignatureList(der, owner))).toBe(true);
      } else expect(m.data).toEqual(t.data);
    }
    expect(mine.find((v) => v.name === 'PK')!.data.subarray(28, 44).equals(guidBytes(owner))).toBe(true);
  });

  test('a store that already holds variables, or a file that is no store, is one line', () => {
    expect(() => enrollKeys(readFileSync(SNAKEOIL), { cert: der, owner, time }, SNAKEOIL)).toThrow(`${SNAKEOIL} already holds variables`);
    expect(() => enrollKeys(Buffer.alloc(4096), { cert: der, owner, time }, 'zeros.fd')).toThrow('zeros.fd is not an OVMF variable store: no firmware volume header');
    expect(() => enrollKeys(Buffer.alloc(100), { cert: der, owner, time }, 'tiny.fd')).toThrow('tiny.fd is not an OVMF variable store: 100 bytes');
  });
});
