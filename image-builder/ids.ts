/**
 * Identifiers derived from the build's input hash, so two builds of the same inputs write the
 * same filesystem UUIDs, hash seeds and disk identifiers (DESIGN principle 8).
 */
import { createHash } from 'node:crypto';
import { formatUuid, verityPartitionUuids } from '../lib/dps.js';

/** What an identifier is for; each purpose gets its own value from the same seed. */
export type IdPurpose = 'fs-uuid' | 'fs-hash-seed' | 'gpt-disk' | 'gpt-root-partition' | 'mbr-disk' | 'dax-mbr-disk' | 'pfn-uuid' | 'gpt-verity-partition';

function digest(seed: string, purpose: IdPurpose): Buffer {
  return createHash('sha256').update(`osb-image:${purpose}:${seed}`).digest();
}

/**
 * A UUID derived from `seed`: 16 bytes of sha256 with the RFC 9562 version 8 ("custom") and
 * variant bits set, so tools that check the layout accept it and nobody mistakes it for random.
 */
export function derivedUuidBytes(seed: string, purpose: IdPurpose): Buffer {
  const b = digest(seed, purpose).subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return Buffer.from(b);
}

export { formatUuid };

export function derivedUuid(seed: string, purpose: IdPurpose): string {
  return formatUuid(derivedUuidBytes(seed, purpose));
}

/** A 32-bit MBR disk identifier (never 0, which some tools read as "unset"). */
export function derivedMbrDiskId(seed: string, purpose: 'mbr-disk' | 'dax-mbr-disk'): number {
  const v = digest(seed, purpose).readUInt32LE(0);
  return v === 0 ? 1 : v;
}

/** The data and verity partition UUIDs the discoverable partitions spec derives from a root hash. */
export { verityPartitionUuids };
