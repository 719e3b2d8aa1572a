/**
 * The PVH entry osb looks for before a runtime profile boots a vmlinux: the Xen ELF note
 * XEN_ELFNOTE_PHYS32_ENTRY (18), read from the note segments as qemu reads it. The real kernels are
 * checked in tests/tasks/vmm.slow.ts; here, ELF files written by the test, note by note.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pvhEntry } from '../../lib/pvh.js';

const dir = mkdtempSync(join(tmpdir(), 'osb-pvh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One note: namesz, descsz, type, the name and the descriptor, each padded to 4 bytes. */
function note(name: string, type: number, desc: Buffer): Buffer {
  const n = Buffer.from(`${name}\0`, 'latin1');
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const head = Buffer.alloc(12);
  head.writeUInt32LE(n.length, 0);
  head.writeUInt32LE(desc.length, 4);
  head.writeUInt32LE(type, 8);
  return Buffer.concat([head, pad(n), pad(desc)]);
}

/** A 64-bit little-endian ELF with one PT_LOAD and one PT_NOTE segment holding `notes`. */
function elf(notes: Buffer): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2; // ELFCLASS64
  h[5] = 1; // little-endian
  h[6] = 1;
  h.writeUInt16LE(2, 16); // ET_EXEC
  h.writeUInt16LE(62, 18); // EM_X86_64
  h.writeBigUInt64LE(64n, 0x20); // e_phoff
  h.writeUInt16LE(64, 0x34);
  h.writeUInt16LE(56, 0x36);
  h.writeUInt16LE(2, 0x38);
  const ph = (type: number, offset: number, size: number) => {
    const p = Buffer.alloc(56);
    p.writeUInt32LE(type, 0);
    p.writeBigUInt64LE(BigInt(offset), 8);
    p.writeBigUInt64LE(BigInt(size), 32);
    return p;
  };
  const at = 64 + 2 * 56;
  return Buffer.concat([h, ph(1, 0, at), ph(4, at, notes.length), notes]);
}

const write = (name: string, b: Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, b);
  return p;
};

describe('the PVH entry of a vmlinux', () => {
  const entry = Buffer.alloc(4);
  test('found among other notes (Linux, GNU build id, then Xen PHYS32_ENTRY)', () => {
    const notes = Buffer.concat([note('Linux', 1, Buffer.from('6.1')), note('GNU', 3, Buffer.alloc(20, 7)), note('Xen', 6, Buffer.from('linux\0')), note('Xen', 18, entry)]);
    expect(pvhEntry(write('pvh', elf(notes)))).toBe('pvh');
  });

  test('none: the Xen notes of a kernel without CONFIG_PVH, or the entry type under another name', () => {
    expect(pvhEntry(write('xen-only', elf(Buffer.concat([note('Xen', 6, Buffer.from('linux\0')), note('Xen', 17, entry)]))))).toBe('none');
    expect(pvhEntry(write('other-name', elf(note('Xe', 18, entry))))).toBe('none');
    expect(pvhEntry(write('no-notes', elf(Buffer.alloc(0))))).toBe('none');
  });

  test('not an ELF: a bzImage (its setup header) or an arm64 Image', () => {
    const bz = Buffer.alloc(1024);
    bz.write('HdrS', 0x202, 'latin1');
    expect(pvhEntry(write('bzImage', bz))).toBe('not-elf');
    const arm = Buffer.alloc(64);
    arm.write('ARM\x64', 0x38, 'latin1');
    expect(pvhEntry(write('Image', arm))).toBe('not-elf');
  });
});
