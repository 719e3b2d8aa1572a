/**
 * Splitting concatenated gzip members. An apk v2 package is `signature.tar.gz + control.tar.gz +
 * data.tar.gz` and an APKINDEX.tar.gz is `signature.tar.gz + index.tar.gz`, cat'ed together
 * (abuild's create_apks and abuild-sign). Signatures and checksums cover the raw compressed
 * bytes of a member, so osb needs each member's exact byte range, not just the inflated stream.
 */
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { OsbError } from '../../../lib/errors.js';

export interface GzipMember {
  /** Byte offset of the member in the file. */
  readonly start: number;
  /** The member's raw bytes (header, deflate data, trailer). */
  readonly raw: Buffer;
  /** Its decompressed content, CRC and length checked. */
  readonly data: Buffer;
}

// RFC 1952 header flags.
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/** Length of the gzip header at `off` (RFC 1952 section 2.3), or an error naming `what`. */
function headerLength(buf: Buffer, off: number, what: string): number {
  if (buf.length - off < 18 || buf[off] !== 0x1f || buf[off + 1] !== 0x8b || buf[off + 2] !== 8) {
    throw new OsbError(`${what} is not a gzip stream at byte ${off}`, 'the download is damaged or is not an apk v2 file');
  }
  const flags = buf[off + 3]!;
  let p = off + 10;
  if (flags & FEXTRA) p += 2 + buf.readUInt16LE(p);
  const skipString = () => {
    const end = buf.indexOf(0, p);
    if (end < 0) throw new OsbError(`${what} has a truncated gzip header at byte ${off}`, 'the download is damaged');
    p = end + 1;
  };
  if (flags & FNAME) skipString();
  if (flags & FCOMMENT) skipString();
  if (flags & FHCRC) p += 2;
  if (p > buf.length) throw new OsbError(`${what} has a truncated gzip header at byte ${off}`, 'the download is damaged');
  return p - off;
}

/** Every gzip member of `buf`, in order. `what` names the file in errors. */
export function splitGzipMembers(buf: Buffer, what: string): GzipMember[] {
  const members: GzipMember[] = [];
  let off = 0;
  while (off < buf.length) {
    const hdr = headerLength(buf, off, what);
    let consumed: number;
    try {
      // With info, the engine reports how many compressed bytes the deflate stream used: the
      // member ends 8 bytes (CRC32, ISIZE) after that.
      const r = inflateRawSync(buf.subarray(off + hdr), { info: true }) as unknown as { engine: { bytesWritten: number } };
      consumed = r.engine.bytesWritten;
    } catch (e) {
      throw new OsbError(`${what} has a corrupt gzip member at byte ${off}: ${(e as Error).message}`, 'the download is damaged');
    }
    const end = off + hdr + consumed + 8;
    if (end > buf.length) throw new OsbError(`${what} is truncated (gzip member at byte ${off} has no trailer)`, 'the download is incomplete; run again');
    const raw = buf.subarray(off, end);
    let data: Buffer;
    try {
      data = gunzipSync(raw);
    } catch (e) {
      throw new OsbError(`${what} has a corrupt gzip member at byte ${off}: ${(e as Error).message}`, 'the download is damaged');
    }
    members.push({ start: off, raw, data });
    off = end;
  }
  return members;
}
