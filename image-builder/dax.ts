/**
 * The NVDIMM PFN info block that lets the guest kernel map the image with DAX, written by osb
 * itself. Layout: `struct nd_pfn_sb` in drivers/nvdimm/pfn.h; the kernel reads it at byte 4096
 * of the namespace and checks it in nd_pfn_validate (drivers/nvdimm/pfn_devs.c):
 *   https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/drivers/nvdimm/pfn_devs.c
 * A QEMU nvdimm without a label area is an "io" namespace, whose device data starts `dataoff`
 * bytes in: the partitioned disk osb writes after the 2 MiB header.
 */

/** Byte offset of the info block in the namespace (SZ_4K in nd_pfn_validate). */
export const PFN_INFO_OFFSET = 4096;
export const PFN_INFO_SIZE = 4096;
const PFN_SIG = Buffer.from('NVDIMM_PFN_INFO\0', 'latin1');
/** enum nd_pfn_mode (drivers/nvdimm/nd.h): PFN_MODE_NONE, PFN_MODE_RAM, PFN_MODE_PMEM. */
export const PFN_MODE_RAM = 1;
const PAGE_SIZE = 4096;

/** Field offsets of struct nd_pfn_sb. */
export const PFN_FIELDS = {
  signature: 0, uuid: 16, parentUuid: 32, flags: 48, versionMajor: 52, versionMinor: 54,
  dataoff: 56, npfns: 64, mode: 72, startPad: 76, endTrunc: 80, align: 84, checksum: 0xff8,
} as const;

/**
 * nd_fletcher64 (drivers/nvdimm/core.c) over little-endian 32-bit words: lo32 wraps at 2^32,
 * hi32 accumulates lo32 and only its low 32 bits survive `hi32 << 32 | lo32`.
 */
export function ndFletcher64(block: Buffer): bigint {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i + 4 <= block.length; i += 4) {
    lo = (lo + block.readUInt32LE(i)) >>> 0;
    hi = (hi + lo) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export interface PfnInfoOptions {
  /** The PFN device's uuid (from the build seed). */
  readonly uuid: Buffer;
  /** Size of the whole namespace: the image file. */
  readonly namespaceBytes: number;
  /** Where the data (the partitioned disk) starts, and the mapping alignment: 2 MiB. */
  readonly dataOffset: number;
}

/** The 4 KiB info block, checksummed as nd_sb_checksum does (checksum field zero while summing). */
export function encodePfnInfo(o: PfnInfoOptions): Buffer {
  if (o.uuid.length !== 16) throw new Error('PFN uuid must be 16 bytes');
  if (o.dataOffset % PAGE_SIZE || o.namespaceBytes % o.dataOffset) throw new Error('PFN data offset must be page aligned and divide the namespace size');
  const b = Buffer.alloc(PFN_INFO_SIZE);
  const f = PFN_FIELDS;
  PFN_SIG.copy(b, f.signature);
  o.uuid.copy(b, f.uuid);
  // parent_uuid stays zero: nd_pfn_validate compares it with nd_dev_to_uuid(), which is the null
  // uuid for an io namespace (QEMU nvdimm without labels); anything else fails with -ENODEV.
  b.writeUInt32LE(0, f.flags);
  b.writeUInt16LE(1, f.versionMajor);
  // Minor 2 records `align`; page_size / page_struct_size (minor 4) only matter for PFN_MODE_PMEM.
  b.writeUInt16LE(2, f.versionMinor);
  b.writeBigUInt64LE(BigInt(o.dataOffset), f.dataoff);
  // As nd_pfn_init computes it for PFN_MODE_RAM with end_trunc 0: pages after dataoff.
  b.writeBigUInt64LE(BigInt((o.namespaceBytes - o.dataOffset) / PAGE_SIZE), f.npfns);
  b.writeUInt32LE(PFN_MODE_RAM, f.mode);
  b.writeUInt32LE(0, f.startPad);
  b.writeUInt32LE(0, f.endTrunc);
  b.writeUInt32LE(o.dataOffset, f.align);
  b.writeBigUInt64LE(ndFletcher64(b), f.checksum);
  return b;
}
