/**
 * Whether an uncompressed kernel (vmlinux) can be started through its PVH entry point, as Cloud
 * Hypervisor, Firecracker and qemu's microvm (and qemu's `-kernel vmlinux` on q35) start it. The
 * entry is an ELF note of the Xen namespace, XEN_ELFNOTE_PHYS32_ENTRY (18), that CONFIG_PVH=y
 * adds (arch/x86/platform/pvh/head.S); qemu refuses a vmlinux without it ("Error loading
 * uncompressed kernel without PVH ELF Note"), so osb says so first, and says what to do.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const PT_NOTE = 4;

function read(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const n = readSync(fd, b, 0, length, offset);
  return b.subarray(0, n);
}

/** 'pvh': it has the entry; 'none': an ELF without it; 'not-elf': a bzImage, an arm64 Image, not a kernel at all. */
export function pvhEntry(path: string): 'pvh' | 'none' | 'not-elf' {
  const fd = openSync(path, 'r');
  try {
    const h = read(fd, 0, 64);
    // ELF magic, 64-bit (class 2), little-endian (data 1): what x86_64 vmlinux is.
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return 'not-elf';
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) {
      const ph = read(fd, phoff + i * phentsize, phentsize);
      if (ph.length < 56 || ph.readUInt32LE(0) !== PT_NOTE) continue;
      const notes = read(fd, Number(ph.readBigUInt64LE(8)), Math.min(Number(ph.readBigUInt64LE(32)), 1 << 20));
      for (let at = 0; at + 12 <= notes.length; ) {
        const namesz = notes.readUInt32LE(at);
        const descsz = notes.readUInt32LE(at + 4);
        const type = notes.readUInt32LE(at + 8);
        const name = notes.subarray(at + 12, at + 12 + namesz).toString('latin1').replace(/\0+$/, '');
        if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return 'pvh';
        at += 12 + (Math.ceil(namesz / 4) + Math.ceil(descsz / 4)) * 4;
      }
    }
    return 'none';
  } finally {
    closeSync(fd);
  }
}
