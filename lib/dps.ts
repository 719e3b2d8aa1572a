/**
 * Partition type GUIDs of the UAPI group's Discoverable Partitions Specification, per arch:
 * systemd-dissect, systemd-sysext, systemd-gpt-auto-generator and mkosi find a DDI's partitions
 * and read its architecture from them. Data, shared by image-builder (the root of a guest image)
 * and sysext-builder (the /usr of an extension).
 * https://uapi-group.org/specifications/specs/discoverable_partitions_specification/
 */
import { hostArchName } from './host.js';

/** GPT "Linux filesystem data": the spec's generic Linux type, for arches it has no type for. */
export const GPT_LINUX_FS = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';

export type DpsPartition = 'root' | 'root-verity' | 'usr' | 'usr-verity';

export const DPS_TYPES: Readonly<Record<DpsPartition, Readonly<Record<string, string>>>> = {
  root: { x86_64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', aarch64: 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE' },
  'root-verity': { x86_64: '2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5', aarch64: 'DF3300CE-D69F-4C92-978C-9BFB0F38D820' },
  usr: { x86_64: '8484680C-9521-48C6-9C11-B0720656F69E', aarch64: 'B0E01050-EE5F-4390-949A-9101B17104E9' },
  'usr-verity': { x86_64: '77FF5F63-E7B6-4633-ACF4-1565B864C0E6', aarch64: '6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E' },
};

/** The type of `partition` for `arch` (the host's when none is given); the generic Linux type for arches the spec has none for. */
export const dpsType = (partition: DpsPartition, arch: string | undefined): string => DPS_TYPES[partition][arch ?? hostArchName()] ?? GPT_LINUX_FS;

export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The UUIDs the spec derives from a dm-verity root hash for the data partition and its verity
 * partition: the hash's first and its last 128 bits, as written (no version bits set).
 */
export function verityPartitionUuids(rootHash: string): [string, string] {
  if (!/^[0-9a-f]{64}$/.test(rootHash)) throw new Error(`not a sha256 root hash: ${rootHash}`);
  const b = Buffer.from(rootHash, 'hex');
  return [formatUuid(b.subarray(0, 16)), formatUuid(b.subarray(16, 32))];
}
