/**
 * Every compression decompresses with the standard tool into an archive GNU cpio reads, and
 * each stream has the form the kernel's initramfs unpacker needs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPRESSIONS, DEFAULT_COMPRESSION, buildInitrd, type Compression } from '../../initrd-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { cpioList, findList, makeCtx, removeTempDirs, tempDir } from './helpers.js';

const DECOMPRESS: Record<Exclude<Compression, 'none'>, string[]> = {
  zstd: ['zstd', '-dc'],
  gzip: ['gzip', '-dc'],
  xz: ['xz', '-dc'],
  lz4: ['lz4', '-dc'],
};

let dir: string;
let rootfs: string;
let expected: string[];
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
  // Some bulk that compresses, so a broken stream cannot hide in a few bytes.
  writeFileSync(join(rootfs, 'var/lib/data/words'), Array.from({ length: 50_000 }, (_, i) => `line ${i} ${i % 7 ? 'alpha' : 'omega'}\n`).join(''));
  expected = [...findList(rootfs), 'init'].sort();
});
afterAll(removeTempDirs);
const realPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = realPath;
});

/** Decompress with the standard tool and list with GNU cpio. */
function listCompressed(file: string, c: Compression): string[] {
  if (c === 'none') return cpioList(file);
  const plain = `${file}.cpio`;
  writeFileSync(plain, execFileSync(DECOMPRESS[c][0]!, [...DECOMPRESS[c].slice(1), file], { maxBuffer: 1 << 28 }));
  return cpioList(plain);
}

describe('compressions', () => {
  test('the default is zstd and every compression is offered', () => {
    expect(DEFAULT_COMPRESSION).toBe('zstd');
    expect([...COMPRESSIONS].sort()).toEqual(['gzip', 'lz4', 'none', 'xz', 'zstd']);
  });

  test.each(COMPRESSIONS.map((c) => [c]))('%s: decompresses with the standard tool and lists with cpio -t', async (c) => {
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, `initrd-${c}.img`), compression: c, agentInit: true });
    expect(r.compression).toBe(c);
    expect(listCompressed(r.path, c).sort()).toEqual(expected);
    const plainSize = c === 'none' ? r.bytes : readFileSync(`${r.path}.cpio`).length;
    if (c !== 'none') expect(r.bytes).toBeLessThan(plainSize * 0.75);
  });

  test('gzip: no file name and no timestamp in the header', async () => {
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'gz.img'), compression: 'gzip', agentInit: true });
    const h = readFileSync(r.path).subarray(0, 10);
    expect([h[0], h[1], h[2]]).toEqual([0x1f, 0x8b, 8]);
    expect(h[3]! & 0x08).toBe(0); // FNAME flag
    expect(h.readUInt32LE(4)).toBe(0); // MTIME
    // pigz is installed here, so it is the one used (the log names the command).
    expect(readFileSync(join(dir, 'logs/initrd.log'), 'utf8')).toMatch(/^\+ pigz -n -c$/m);
  });

  test('gzip without pigz and gzip on PATH falls back to Node zlib, still a valid gzip stream', async () => {
    const bin = tempDir('osb-path-');
    process.env.PATH = bin; // nothing in it
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'zlib.img'), compression: 'gzip', agentInit: true, level: 9 });
    process.env.PATH = realPath;
    expect(listCompressed(r.path, 'gzip').sort()).toEqual(expected);
    expect(readFileSync(r.path).readUInt32LE(4)).toBe(0);
  });

  test('gzip with gzip but not pigz on PATH uses gzip -n', async () => {
    const bin = tempDir('osb-path-');
    symlinkSync(execFileSync('sh', ['-c', 'command -v gzip'], { encoding: 'utf8' }).trim(), join(bin, 'gzip'));
    process.env.PATH = bin;
    const ctxDir = tempDir();
    const r = await buildInitrd(makeCtx(ctxDir), { rootfsDir: rootfs, output: join(dir, 'gzip-n.img'), compression: 'gzip', agentInit: true });
    process.env.PATH = realPath;
    expect(readFileSync(join(ctxDir, 'logs/initrd.log'), 'utf8')).toMatch(/^\+ gzip -n -c$/m);
    expect(listCompressed(r.path, 'gzip').sort()).toEqual(expected);
  });

  test('xz: CRC32 check, the only one the kernel decoder verifies', async () => {
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'crc.img'), compression: 'xz', agentInit: true, level: 1 });
    const info = execFileSync('xz', ['--robot', '--list', r.path], { encoding: 'utf8' });
    expect(info).toMatch(/^totals\t.*\tCRC32\t/m);
  });

  test('lz4: the legacy frame (magic 0x184C2102) the kernel unpacks', async () => {
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'legacy.img'), compression: 'lz4', agentInit: true });
    expect(readFileSync(r.path).readUInt32LE(0)).toBe(0x184c2102);
  });

  test('zstd: a level override reaches the compressor and changes the output', async () => {
    const a = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'z3.img'), compression: 'zstd', agentInit: true });
    const b = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'z12.img'), compression: 'zstd', agentInit: true, level: 12 });
    expect(b.bytes).toBeLessThan(a.bytes);
    expect(listCompressed(b.path, 'zstd').sort()).toEqual(expected);
  });
});
