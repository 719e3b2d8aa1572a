/** The inode checksums of the timestamp pass: crc32c as e2fsprogs and the kernel compute it. */
import { expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { crc32c } from '../../image-builder/ext4-times.js';

/** Bit by bit, straight from the definition: the oracle for the table-driven version. */
function slow(crc: number, data: Uint8Array): number {
  let c = crc >>> 0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return c >>> 0;
}

test('crc32c of "123456789" is the Castagnoli check value, and every length and seed agrees with the bitwise definition', () => {
  expect((crc32c(0xffffffff, Buffer.from('123456789')) ^ 0xffffffff) >>> 0).toBe(0xe3069283);
  for (let len = 0; len < 300; len += 7) {
    const data = createHash('sha512').update(String(len)).digest();
    const buf = Buffer.concat(Array.from({ length: Math.ceil(len / 64) + 1 }, () => data)).subarray(0, len);
    for (const seed of [0, 0xffffffff, 0x12345678]) expect(crc32c(seed, buf)).toBe(slow(seed, buf));
  }
});
