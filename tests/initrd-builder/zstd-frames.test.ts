/**
 * The zstd read-back walks frames without decoding them. zstd's own `zstd -t` is the oracle: on
 * real zstd output, cut, extended and concatenated, the walk must accept what zstd accepts. Of
 * what zstd refuses, the walk must refuse everything a short or extended write makes.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { walkZstdFrames } from '../../initrd-builder/zstd-frames.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const dir = tempDir('osb-zstd-frames-');
let n = 0;
const file = (bytes: Buffer) => {
  const p = join(dir, `f${n++}.zst`);
  writeFileSync(p, bytes);
  return p;
};
/** `zstd ARGS` over `input` on stdin, as the initrd builder runs it. */
const zstd = (input: Buffer, ...args: string[]) => execFileSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 28 });
const zstdAccepts = (p: string) => spawnSync('zstd', ['-t', '-q', p]).status === 0;

// Text that compresses, random bytes that do not (raw blocks), and a run (RLE blocks): 3 MiB.
const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `line ${i} of a file in the rootfs\n`).join(''));
const input = Buffer.concat([text, randomBytes(1 << 20), Buffer.alloc(700_000, 7), text]);

describe('walkZstdFrames', () => {
  test.each([
    ['zstd -T0 (the initrd builder)', ['-T0']],
    ['zstd -19, one thread', ['-19']],
    ['without a checksum', ['--no-check']],
    ['with the content size in the header', [`--stream-size=${input.length}`]],
  ])('accepts real output: %s', (_name, args) => {
    const p = file(zstd(input, ...args));
    expect(zstdAccepts(p)).toBe(true);
    const shape = walkZstdFrames(p);
    expect(shape.frames).toBe(1);
    // 3 MiB in blocks of at most 128 KiB.
    expect(shape.blocks).toBeGreaterThanOrEqual(Math.ceil(input.length / (128 * 1024)));
  });

  test('accepts an empty input, concatenated frames and a skippable frame, as zstd does', () => {
    const empty = zstd(Buffer.alloc(0));
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from([5, 0, 0, 0]), Buffer.from('hello')]);
    const two = Buffer.concat([zstd(text), skippable, empty, zstd(text)]);
    for (const [bytes, frames] of [[empty, 1], [two, 3]] as const) {
      const p = file(bytes);
      expect(zstdAccepts(p)).toBe(true);
      expect(walkZstdFrames(p).frames).toBe(frames);
    }
  });

  test('refuses every cut of a real stream, as zstd -t does, naming where the file ends', () => {
    const whole = zstd(input, '-T0');
    // 64 lengths spread over the stream (an odd step, so they fall inside blocks and headers alike),
    // the first 12 (inside the frame header) and the last 12 (the last block header and the checksum).
    const step = Math.floor(whole.length / 64) | 1;
    const cuts = [...Array.from({ length: 12 }, (_, i) => i + 1), ...Array.from({ length: 63 }, (_, i) => (i + 1) * step), ...Array.from({ length: 12 }, (_, i) => whole.length - 12 + i)];
    for (const cut of cuts) {
      const p = file(whole.subarray(0, cut));
      expect(zstdAccepts(p)).toBe(false);
      expect(() => walkZstdFrames(p)).toThrow(new RegExp(`^the initrd just written does not read back: the file ends inside .* at byte \\d+ of ${cut}$`));
    }
  });

  test('refuses data after the last frame, an empty file and a file that is not zstd', () => {
    const whole = zstd(text);
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([whole, Buffer.alloc(16)]), new RegExp(`data after the last zstd frame at byte ${whole.length} `)],
      [Buffer.concat([whole, Buffer.from('garbage')]), /data after the last zstd frame/],
      [Buffer.alloc(0), /the file is empty at byte 0 of 0/],
      [readFileSync(process.execPath).subarray(0, 4096), /no zstd frame magic at byte 0 /],
    ];
    for (const [bytes, message] of cases) {
      const p = file(bytes);
      expect(zstdAccepts(p)).toBe(false);
      expect(() => walkZstdFrames(p)).toThrow(message);
    }
  });

  test('refuses a block of the reserved type, as zstd -t does', () => {
    const whole = Buffer.from(zstd(text, '--no-check'));
    // The first block header follows the 4-byte magic, the descriptor and the window byte.
    expect(whole[4]! & 0xe3).toBe(0);
    whole[6] = whole[6]! | 0x06;
    const p = file(whole);
    expect(zstdAccepts(p)).toBe(false);
    expect(() => walkZstdFrames(p)).toThrow(/a block of the reserved type at byte 6 /);
  });
});
