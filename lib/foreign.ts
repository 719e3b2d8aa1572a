/**
 * Bytes that came from outside osb (a registry's answer, an OCI layout someone else wrote) read
 * as JSON, with failures said in one line: what osb read, what it found instead (the first bytes,
 * printable), and what to check. No JSON parser or fs message reaches the user.
 */
import { readFile } from 'node:fs/promises';
import { OsbError } from './errors.js';

/** The first `n` bytes as one printable line: control and non-ASCII bytes as \xNN, quoted. */
export function firstBytes(bytes: Buffer, n = 60): string {
  const head = bytes.subarray(0, n);
  let s = '';
  for (const b of head) s += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : b === 0x0a ? '\\n' : `\\x${b.toString(16).padStart(2, '0')}`;
  return `'${s}'${bytes.length > n ? '...' : ''}`;
}

/**
 * `bytes` as a JSON object, or an OsbError `${what} is not JSON ...` (or "not a JSON object")
 * with `hint`. `what` names where the bytes came from.
 */
export function parseJsonObject<T extends object>(bytes: Buffer, what: string, hint?: string): T {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new OsbError(`${what} is not JSON: ${bytes.length} bytes starting ${firstBytes(bytes)}`, hint);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new OsbError(`${what} is not a JSON object: ${bytes.length} bytes starting ${firstBytes(bytes)}`, hint);
  return v as T;
}

/** A JSON object from a file someone else wrote: missing, unreadable or not JSON is one line. */
export async function readJsonFile<T extends object>(path: string, what: string, hint?: string): Promise<T> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OsbError(code === 'ENOENT' ? `${what} is missing (${path})` : `${what} cannot be read (${path}: ${code ?? (e as Error).message})`, hint);
  }
  return parseJsonObject<T>(bytes, `${what} (${path})`, hint);
}

/** A digest osb will turn into a blob's file name: sha256 and 64 hex digits, nothing that could name another path. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
