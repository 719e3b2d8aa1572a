/**
 * What osb needs of a PE/COFF image (the systemd-stub and the UKI made from it): the section
 * table and the alignment, and a fixed TimeDateStamp with the checksum made again, as binutils'
 * objcopy stamps PE files with the current time and reads no SOURCE_DATE_EPOCH. Pure.
 */
import { createHash } from 'node:crypto';
import { OsbError } from '../lib/errors.js';

export interface PeSection {
  readonly name: string;
  readonly vma: number;
  readonly virtualSize: number;
  readonly rawOffset: number;
  readonly rawSize: number;
}

export interface PeImage {
  readonly machine: number;
  readonly sectionAlignment: number;
  readonly imageBase: bigint;
  readonly sections: readonly PeSection[];
}

const fail = (what: string, why: string) => new OsbError(`${what} is not a PE image osb can read (${why})`, 'give a systemd-stub from systemd-boot-efi (linuxx64.efi.stub)');

export function readPe(b: Buffer, what: string): PeImage {
  if (b.length < 0x40 || b.readUInt16LE(0) !== 0x5a4d) throw fail(what, 'no MZ header');
  const pe = b.readUInt32LE(0x3c);
  if (pe + 24 > b.length || b.readUInt32LE(pe) !== 0x00004550) throw fail(what, 'no PE signature');
  const machine = b.readUInt16LE(pe + 4);
  const count = b.readUInt16LE(pe + 6);
  const optSize = b.readUInt16LE(pe + 20);
  const opt = pe + 24;
  const magic = b.readUInt16LE(opt);
  if (magic !== 0x20b) throw fail(what, `optional header magic 0x${magic.toString(16)}, not PE32+`);
  const sectionAlignment = b.readUInt32LE(opt + 32);
  const imageBase = b.readBigUInt64LE(opt + 24);
  const table = opt + optSize;
  if (table + count * 40 > b.length || count > 96) throw fail(what, 'the section table runs past the file');
  const sections: PeSection[] = [];
  for (let i = 0; i < count; i++) {
    const o = table + i * 40;
    const name = b.subarray(o, o + 8).toString('latin1').replace(/\0+$/, '');
    sections.push({ name, virtualSize: b.readUInt32LE(o + 8), vma: b.readUInt32LE(o + 12), rawSize: b.readUInt32LE(o + 16), rawOffset: b.readUInt32LE(o + 20) });
  }
  return { machine, sectionAlignment, imageBase, sections };
}

/** The bytes of a section as the loader maps them: VirtualSize of them (the raw data is padded). */
export function sectionData(b: Buffer, s: PeSection): Buffer {
  return b.subarray(s.rawOffset, s.rawOffset + Math.min(s.virtualSize, s.rawSize));
}

/** Set the COFF TimeDateStamp and make the optional header's CheckSum again (in place). */
export function stampPe(b: Buffer, epoch: number): void {
  const pe = b.readUInt32LE(0x3c);
  b.writeUInt32LE(epoch >>> 0, pe + 8);
  const sumAt = pe + 24 + 64;
  b.writeUInt32LE(0, sumAt);
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) {
    sum += b.readUInt16LE(i);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (b.length % 2) {
    sum += b[b.length - 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt32LE((sum + b.length) >>> 0, sumAt);
}

/**
 * The Authenticode digest (sha256) of a PE image, what a Secure Boot signature signs and
 * firmware checks: the headers without the checksum and the certificate-table entry, each
 * section's raw data in file order, then what follows the last section up to the certificate
 * table (as sbsign and osslsigncode hash it).
 */
export function authenticodeDigest(b: Buffer): string {
  const pe = b.readUInt32LE(0x3c);
  const opt = pe + 24;
  const sumAt = opt + 64;
  const certEntry = opt + 144; // PE32+: data directory 4
  const sizeOfHeaders = b.readUInt32LE(opt + 60);
  const certOffset = b.readUInt32LE(certEntry);
  const certSize = b.readUInt32LE(certEntry + 4);
  const h = createHash('sha256');
  h.update(b.subarray(0, sumAt));
  h.update(b.subarray(sumAt + 4, certEntry));
  h.update(b.subarray(certEntry + 8, sizeOfHeaders));
  const img = readPe(b, 'the image');
  let end = sizeOfHeaders;
  for (const s of [...img.sections].filter((x) => x.rawSize > 0).sort((x, y) => x.rawOffset - y.rawOffset)) {
    h.update(b.subarray(s.rawOffset, s.rawOffset + s.rawSize));
    end = Math.max(end, s.rawOffset + s.rawSize);
  }
  const stop = certSize && certOffset ? certOffset : b.length;
  if (stop > end) h.update(b.subarray(end, stop));
  return h.digest('hex');
}
