/**
 * An OVMF variable store with Secure Boot keys enrolled, written offline: what virt-fw-vars
 * (python3-virt-firmware, not packaged in Debian 12) and KeyTool (an interactive EFI program) do,
 * for the one case osb needs: a certificate as PK, KEK and db, and Secure Boot on.
 *
 * Written by hand because no npm package writes EDK2's variable store. The layout is EDK2's
 * (MdeModulePkg/Include/Guid/VariableFormat.h, PiFirmwareVolume.h): a firmware volume whose
 * header names the NV data file system, then the authenticated variable store header, then the
 * variables, each an AUTHENTICATED_VARIABLE_HEADER, its UTF-16 name and its data, 4-byte aligned.
 * The template is the firmware's own empty store (OVMF_VARS_4M.fd): its size, block map and
 * fault-tolerant-write area stay as they are.
 */
import { OsbError } from './errors.js';

/** gEfiSystemNvDataFvGuid, the file system of the variable store's firmware volume. */
const NV_DATA_FV = 'fff12b8d-7696-4c8b-a985-2747075b4f50';
/** gEfiAuthenticatedVariableGuid: a store of authenticated variable headers. */
const AUTH_VARIABLE_STORE = 'aaf32c78-947b-439a-a180-2e144ec37792';
const GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
const IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
const SECURE_BOOT_ENABLE = 'f0a30bc7-af08-4556-99c4-001009c93a44';
const CUSTOM_MODE = 'c076ec0c-7028-4399-a072-71ee5c448b9f';
const CERT_X509 = 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072';

const NV = 0x1;
const BS = 0x2;
const RT = 0x4;
const TIME_BASED_AUTH = 0x20;
/** A variable's StartId, and its State once added (VAR_HEADER_VALID_ONLY & VAR_ADDED). */
const START_ID = 0x55aa;
const VAR_ADDED = 0x3f;
const HEADER_SIZE = 60;

/** A GUID in EFI's byte order (the first three fields little-endian). */
export function guidBytes(guid: string): Buffer {
  const h = guid.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  if (b.length !== 16) throw new Error(`not a GUID: ${guid}`);
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

/** EFI_TIME of `when` (UTC, nanoseconds and time zone 0), the timestamp of a time-based authenticated variable. */
function efiTime(when: Date): Buffer {
  const t = Buffer.alloc(16);
  t.writeUInt16LE(when.getUTCFullYear(), 0);
  t.writeUInt8(when.getUTCMonth() + 1, 2);
  t.writeUInt8(when.getUTCDate(), 3);
  t.writeUInt8(when.getUTCHours(), 4);
  t.writeUInt8(when.getUTCMinutes(), 5);
  t.writeUInt8(when.getUTCSeconds(), 6);
  return t;
}

/** An EFI_SIGNATURE_LIST of one X.509 certificate (DER), owned by `owner`. */
export function x509SignatureList(der: Buffer, owner: string): Buffer {
  const head = Buffer.alloc(28);
  guidBytes(CERT_X509).copy(head, 0);
  head.writeUInt32LE(28 + 16 + der.length, 16); // SignatureListSize
  head.writeUInt32LE(0, 20); // SignatureHeaderSize
  head.writeUInt32LE(16 + der.length, 24); // SignatureSize: the owner GUID and the certificate
  return Buffer.concat([head, guidBytes(owner), der]);
}

interface Variable {
  readonly name: string;
  readonly vendor: string;
  readonly attributes: number;
  readonly data: Buffer;
  readonly time?: Buffer;
}

function variableBytes(v: Variable): Buffer {
  const name = Buffer.from(`${v.name}\0`, 'utf16le');
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16LE(START_ID, 0);
  h.writeUInt8(VAR_ADDED, 2);
  h.writeUInt32LE(v.attributes, 4);
  // MonotonicCount (8) stays 0; TimeStamp at 16.
  (v.time ?? Buffer.alloc(16)).copy(h, 16);
  // PubKeyIndex (32) stays 0.
  h.writeUInt32LE(name.length, 36);
  h.writeUInt32LE(v.data.length, 40);
  guidBytes(v.vendor).copy(h, 44);
  const body = Buffer.concat([h, name, v.data]);
  return Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4, 0xff)]);
}

/** Where the store's variables start and end in `fd`, checked to be EDK2's authenticated store. */
function storeOf(fd: Buffer, what: string): { start: number; end: number } {
  const bad = (why: string) => new OsbError(`${what} is not an OVMF variable store: ${why}`, "give the firmware's own empty variable template (Debian: /usr/share/OVMF/OVMF_VARS_4M.fd)");
  if (fd.length < 0x100) throw bad(`${fd.length} bytes`);
  if (fd.toString('latin1', 40, 44) !== '_FVH') throw bad('no firmware volume header');
  if (!fd.subarray(16, 32).equals(guidBytes(NV_DATA_FV))) throw bad('its firmware volume is not the NV data file system');
  const fvLength = Number(fd.readBigUInt64LE(32));
  const headerLength = fd.readUInt16LE(48);
  if (fvLength > fd.length || headerLength < 0x48 || headerLength + 28 > fvLength) throw bad('its firmware volume header does not fit the file');
  if (!fd.subarray(headerLength, headerLength + 16).equals(guidBytes(AUTH_VARIABLE_STORE))) throw bad('its variables are not authenticated variables');
  const size = fd.readUInt32LE(headerLength + 16);
  if (fd.readUInt8(headerLength + 20) !== 0x5a || fd.readUInt8(headerLength + 21) !== 0xfe || headerLength + size > fvLength) throw bad('its variable store header is not a healthy, formatted one');
  return { start: headerLength + 28, end: headerLength + size };
}

/** The names of the variables a store holds (added ones, in order). */
export function storeVariables(fd: Buffer): { name: string; vendor: string; attributes: number; data: Buffer }[] {
  const { start, end } = storeOf(fd, 'the file');
  const out: { name: string; vendor: string; attributes: number; data: Buffer }[] = [];
  for (let p = start; p + HEADER_SIZE <= end && fd.readUInt16LE(p) === START_ID; ) {
    const nameSize = fd.readUInt32LE(p + 36);
    const dataSize = fd.readUInt32LE(p + 40);
    const next = p + HEADER_SIZE + nameSize + dataSize;
    if (next > end) break;
    const g = fd.subarray(p + 44, p + 60);
    const vendor = [Buffer.from(g.subarray(0, 4)).reverse(), Buffer.from(g.subarray(4, 6)).reverse(), Buffer.from(g.subarray(6, 8)).reverse(), g.subarray(8, 10), g.subarray(10)].map((b) => b.toString('hex')).join('-');
    if (fd.readUInt8(p + 2) === VAR_ADDED) out.push({ name: fd.toString('utf16le', p + HEADER_SIZE, p + HEADER_SIZE + nameSize).replace(/\0+$/, ''), vendor, attributes: fd.readUInt32LE(p + 4), data: Buffer.from(fd.subarray(p + HEADER_SIZE + nameSize, next)) });
    p = (next + 3) & ~3;
  }
  return out;
}

export interface Enrollment {
  /** The certificate (DER) enrolled as PK, KEK and db. */
  readonly cert: Buffer;
  /** The owner GUID of its signature lists. */
  readonly owner: string;
  /** The variables' timestamp (later updates from the OS must be newer). */
  readonly time: Date;
}

/**
 * The template store with `e.cert` enrolled as PK, KEK and db, Secure Boot enabled and not in
 * custom mode. The template must hold no variables yet: enrolling into a used store would leave
 * its own keys and boot entries beside these.
 */
export function enrollKeys(template: Buffer, e: Enrollment, what = 'the variable template'): Buffer {
  const { start, end } = storeOf(template, what);
  if (template.readUInt16LE(start) !== 0xffff) throw new OsbError(`${what} already holds variables`, "enroll into the firmware's empty template (Debian: /usr/share/OVMF/OVMF_VARS_4M.fd)");
  const time = efiTime(e.time);
  const list = x509SignatureList(e.cert, e.owner);
  const auth = NV | BS | RT | TIME_BASED_AUTH;
  const vars = Buffer.concat(
    [
      { name: 'db', vendor: IMAGE_SECURITY_DATABASE, attributes: auth, data: list, time },
      { name: 'KEK', vendor: GLOBAL_VARIABLE, attributes: auth, data: list, time },
      { name: 'PK', vendor: GLOBAL_VARIABLE, attributes: auth, data: list, time },
      { name: 'SecureBootEnable', vendor: SECURE_BOOT_ENABLE, attributes: NV | BS, data: Buffer.from([1]) },
      { name: 'CustomMode', vendor: CUSTOM_MODE, attributes: NV | BS, data: Buffer.from([0]) },
    ].map(variableBytes),
  );
  if (start + vars.length > end) throw new OsbError(`${what} has ${end - start} bytes for variables, and the keys need ${vars.length}`, 'enroll a smaller certificate');
  const out = Buffer.from(template);
  vars.copy(out, start);
  return out;
}
