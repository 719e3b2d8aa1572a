/**
 * A Unified Kernel Image: systemd-stub (Debian's systemd-boot-efi) with the kernel, the initrd,
 * the command line and the os-release added as PE sections by binutils' objcopy, each at the
 * next 4 KiB boundary after the stub's own sections (a multiple of any section alignment a stub
 * has). Reproducible: objcopy's timestamp is replaced by SOURCE_DATE_EPOCH. The PCR 11 values
 * are computed from the input bytes, measured while objcopy runs, and kept only once every
 * section read back from the UKI written is found to hold exactly those bytes.
 */
import { createHash } from 'node:crypto';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { tmpPathFor, writeAtomic } from '../lib/atomic.js';
import { OsbError } from '../lib/errors.js';
import { predictPcr11, type Pcr11 } from './pcr.js';
import { authenticodeDigest, readPe, sectionData, stampPe } from './pe.js';

/** Where Debian's systemd-boot-efi puts the stub. */
export const DEBIAN_STUB: Readonly<Record<string, string>> = { x86_64: '/usr/lib/systemd/boot/efi/linuxx64.efi.stub', aarch64: '/usr/lib/systemd/boot/efi/linuxaa64.efi.stub' };

export interface UkiOptions {
  readonly stub: string;
  readonly linux: string;
  /** @default no .initrd section */
  readonly initrd?: string;
  readonly cmdline: string;
  /** The rootfs's os-release (.osrel). */
  readonly osRelease: string;
  readonly output: string;
}

export interface UkiMeasurements {
  readonly pcr11: { readonly sha256: Pcr11; readonly sha1: Pcr11 };
  /** sha256 of each measured section's contents, by section name. */
  readonly sections: Readonly<Record<string, string>>;
  readonly uki: { readonly sha256: string; readonly size: number };
  /** What a Secure Boot signature of it signs (the same for the signed copy). */
  readonly authenticode: { readonly sha256: string };
}

const ALIGN = 4096;
/** The PE headers stampPe rewrites (DOS stub, COFF and optional header) lie in the first page. */
const HEADER_BYTES = 4096;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function buildUki(ctx: BuildContext, o: UkiOptions): Promise<UkiMeasurements | undefined> {
  const stub = await readFile(o.stub).catch((e: NodeJS.ErrnoException) => {
    throw new OsbError(`cannot read the systemd-stub ${o.stub} (${e.code ?? e.message})`, 'install systemd-boot-efi (apt-get install systemd-boot-efi), or give --uki-stub FILE');
  });
  const pe = readPe(stub, o.stub);
  if (pe.sections.some((s) => ['.linux', '.initrd', '.cmdline', '.osrel'].includes(s.name))) throw new OsbError(`${o.stub} already has UKI sections: it is a UKI, not a stub`, 'give the bare systemd-stub (linuxx64.efi.stub)');
  const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
  let next = align(Math.max(...pe.sections.map((s) => s.vma + s.virtualSize)));
  const tmpDir = join(dirname(o.output), `.osb-uki-${process.pid}`);
  const cmdlineFile = join(tmpDir, 'cmdline');
  const inputs: [string, string][] = [['.osrel', o.osRelease], ['.cmdline', cmdlineFile], ['.linux', o.linux], ...(o.initrd ? [['.initrd', o.initrd] as [string, string]] : [])];
  const args: string[] = [];
  const { mkdir, stat } = await import('node:fs/promises');
  if (!ctx.dryRun) {
    await mkdir(tmpDir, { recursive: true });
    await writeFile(cmdlineFile, o.cmdline);
  }
  try {
    for (const [name, file] of inputs) {
      const size = ctx.dryRun ? 0 : (await stat(file)).size;
      args.push('--add-section', `${name}=${file}`, '--set-section-flags', `${name}=data,readonly`, '--change-section-vma', `${name}=0x${(Number(pe.imageBase) + next).toString(16)}`);
      next = align(next + size);
    }
    if (ctx.dryRun) {
      await ctx.run(['objcopy', ...args, o.stub, o.output]);
      return undefined;
    }
    return await writeAtomic(o.output, async (tmp) => {
      // The sections' bytes are the input files': read and measure them while objcopy writes
      // (the read-back below checks that the UKI holds exactly these bytes).
      const measured = Promise.all(
        inputs.map(async ([name, file]) => {
          const data = await readFile(file);
          return { name, file, data, sha256: createHash('sha256').update(data).digest(), sha1: createHash('sha1').update(data).digest() };
        }),
      );
      const [, ins] = await Promise.all([ctx.run(['objcopy', ...args, o.stub, tmp]), measured]);
      // Padded to 8 bytes, as sbsign pads before it appends a signature: the Authenticode digest
      // of this file is then the one a signed copy carries.
      const raw = await readFile(tmp);
      const pad = (8 - (raw.length % 8)) % 8;
      const uki = pad ? Buffer.concat([raw, Buffer.alloc(pad)]) : raw;
      stampPe(uki, ctx.sourceDateEpoch);
      // Read back: every section holds the bytes of its input.
      const out = readPe(uki, o.output);
      for (const { name, file, data } of ins) {
        const s = out.sections.find((x) => x.name === name);
        if (!s || !sectionData(uki, s).equals(data)) throw new OsbError(`objcopy wrote ${name} of ${o.output} wrong: it does not hold ${file}`, 'check the binutils version (objcopy --version)');
      }
      // Only the headers (timestamp, checksum) and the padding differ from what objcopy wrote.
      const fh = await open(tmp, 'r+');
      try {
        await fh.write(uki, 0, Math.min(HEADER_BYTES, raw.length), 0);
        if (pad) await fh.write(uki, raw.length, pad, raw.length);
      } finally {
        await fh.close();
      }
      const digests = (bank: 'sha256' | 'sha1') => new Map(ins.map((i) => [i.name, i[bank]]));
      return {
        pcr11: { sha256: predictPcr11(digests('sha256'), 'sha256'), sha1: predictPcr11(digests('sha1'), 'sha1') },
        sections: Object.fromEntries(ins.map((i) => [i.name, i.sha256.toString('hex')])),
        uki: { sha256: sha256(uki), size: uki.length },
        authenticode: { sha256: authenticodeDigest(uki) },
      };
    });
  } finally {
    if (!ctx.dryRun) await rm(tmpDir, { recursive: true, force: true });
  }
}

/** Sign the UKI for Secure Boot with sbsign (in place, through a temporary file), and check it with sbverify. */
export async function signUki(ctx: BuildContext, uki: string, key: string, cert: string): Promise<void> {
  if (ctx.dryRun) {
    // Shown, not run: nothing is written, so there is nothing to rename.
    await ctx.run(['sbsign', '--key', key, '--cert', cert, '--output', tmpPathFor(uki), uki]);
    return void (await ctx.run(['sbverify', '--cert', cert, tmpPathFor(uki)]));
  }
  await writeAtomic(uki, async (tmp) => {
    await ctx.run(['sbsign', '--key', key, '--cert', cert, '--output', tmp, uki]);
    await ctx.run(['sbverify', '--cert', cert, tmp]);
  });
}
