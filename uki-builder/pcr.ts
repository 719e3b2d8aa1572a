/**
 * The PCR 11 values systemd-stub and systemd-pcrphase produce for a UKI (systemd 252): the stub
 * extends PCR 11, for each UKI section present in its fixed order, with the digest of the
 * section's name (with its NUL) and then the digest of its contents; systemd-pcrphase then
 * extends it with each boot phase's word. A PCR starts at zero; extend(d) = H(pcr || d). Pure.
 */
import { createHash } from 'node:crypto';

/** The sections systemd-stub 252 measures, in its order (.pcrsig is not measured). */
export const MEASURED_SECTIONS = ['.linux', '.osrel', '.cmdline', '.initrd', '.splash', '.dtb', '.pcrpkey'] as const;
/** systemd-pcrphase's words, as systemd-measure lists its phases. */
export const PHASES = ['enter-initrd', 'leave-initrd', 'sysinit', 'ready'] as const;

export type Bank = 'sha256' | 'sha1';

export interface Pcr11 {
  /** After the stub: what a guest that runs no systemd (osb's agent) reads. */
  readonly stub: string;
  /** After each systemd-pcrphase phase, as `systemd-measure calculate` prints them. */
  readonly phases: readonly { readonly phase: string; readonly value: string }[];
}

/** PCR 11 from each section's digest in `bank` (the digest of the bytes systemd-stub hashes). */
export function predictPcr11(digests: ReadonlyMap<string, Buffer>, bank: Bank): Pcr11 {
  const h = (d: Buffer | string) => createHash(bank).update(d).digest();
  let pcr = Buffer.alloc(bank === 'sha256' ? 32 : 20);
  const extend = (d: Buffer) => {
    pcr = h(Buffer.concat([pcr, d]));
  };
  for (const name of MEASURED_SECTIONS) {
    const digest = digests.get(name);
    if (!digest) continue;
    extend(h(Buffer.from(`${name}\0`, 'latin1')));
    extend(digest);
  }
  const stub = pcr.toString('hex');
  const phases: { phase: string; value: string }[] = [];
  const done: string[] = [];
  for (const p of PHASES) {
    extend(h(p));
    done.push(p);
    phases.push({ phase: done.join(':'), value: pcr.toString('hex') });
  }
  return { stub, phases };
}
