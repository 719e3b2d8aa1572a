/**
 * The uki target: a Unified Kernel Image of osb's kernel, the initrd, a command line and the
 * rootfs's os-release on systemd-stub (uki-builder/), with the PCR 11 values systemd-stub will
 * measure, predicted beside it (WORKDIR/osb.efi.pcr.json).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OsbError, UsageError } from '../../lib/errors.js';
import { OS_RELEASE_PATHS, resolveInTree } from '../../lib/bootable.js';
import { hostArch } from '../../distros/index.js';
import type { Target } from '../engine/target.js';
import { initrdPath, kernelPaths, rootfsDir, ukiPaths } from '../settings/paths.js';
import { verityRoot } from './image.js';
import type { Settings } from '../settings/table.js';

/** What the statement beside the UKI is: the values a verifier compares the guest's TPM with. */
export const UKI_REFERENCE_VALUES = 'https://osb.invalid/attestation/uki-reference-values/v1';

const stubOf = async (s: Settings): Promise<string> => s.ukiStub ?? (await import('../../uki-builder/index.js')).DEBIAN_STUB[s.arch ?? hostArch()] ?? '';
const kernelOf = (s: Settings): string => (s.kernel ? resolve(s.kernel) : kernelPaths(s).vmlinuz);

/** The rootfs's os-release, its symlinks followed inside the tree. */
function osReleaseIn(root: string): string | undefined {
  for (const p of OS_RELEASE_PATHS) {
    const r = resolveInTree(root, p);
    if (r?.stats.isFile()) return r.path;
  }
  return undefined;
}

export const uki: Target = {
  name: 'uki',
  summary: "Unified Kernel Image (WORKDIR/osb.efi): the kernel, initrd (--measured-rootfs: the image's dm-verity line instead), --uki-cmdline and the rootfs's os-release on systemd-stub, with the PCR 11 values it will measure (WORKDIR/osb.efi.pcr.json)",
  // A measured image instead of the initrd: the UKI carries the image's dm-verity line, so its
  // PCR 11 covers the root hash and one measurement covers the whole OS.
  deps: (s) => [...(s.kernel ? [] : ['kernel']), s.measuredRootfs ? 'image' : 'initrd'],
  settings: ['ukiCmdline', 'ukiStub', 'sbKey', 'sbCert', 'sourceDateEpoch', 'measuredRootfs', 'fsType'],
  files: (s) => [...(s.kernel ? [resolve(s.kernel)] : []), ...(s.ukiStub ? [resolve(s.ukiStub)] : []), ...(s.sbCert ? [resolve(s.sbCert)] : [])],
  outputs: (s) => [ukiPaths(s).uki, ukiPaths(s).pcr, ukiPaths(s).statement],
  tools: (s) => ['objcopy', ...(s.sbKey ? ['sbsign', 'sbverify'] : [])],
  validate: async (s) => {
    if (!s.sbKey !== !s.sbCert) throw new UsageError('Secure Boot signing needs both --sb-key and --sb-cert', 'give the PEM key and the PEM certificate of your db key');
    const stub = await stubOf(s);
    if (!stub) throw new OsbError(`osb has no systemd-stub for ${s.arch ?? hostArch()}`, 'give --uki-stub FILE');
  },
  run: async (ctx, s) => {
    const { buildUki } = await import('../../uki-builder/index.js');
    const osRelease = osReleaseIn(rootfsDir(s));
    if (!osRelease && !ctx.dryRun) throw new OsbError(`the rootfs ${rootfsDir(s)} has no os-release, which the UKI's .osrel section carries`, 'build the rootfs with osb rootfs, or give --rootfs-dir an OS tree');
    const stub = await stubOf(s);
    const p = ukiPaths(s);
    const verity = await verityRoot(s, ctx.dryRun);
    const initrd = verity ? undefined : initrdPath(s);
    const cmdline = verity ? `${s.ukiCmdline} ${verity.cmdline} rootfstype=${s.fsType} ro` : s.ukiCmdline;
    const m = await buildUki(ctx, { stub, linux: kernelOf(s), initrd: initrd && (existsSync(initrd) || ctx.dryRun) ? initrd : undefined, cmdline, osRelease: osRelease ?? join(rootfsDir(s), 'etc/os-release'), output: p.uki });
    if (s.sbKey && s.sbCert) await (await import('../../uki-builder/index.js')).signUki(ctx, p.uki, resolve(s.sbKey), resolve(s.sbCert));
    if (!m) return;
    const { writeAtomic } = await import('../../lib/atomic.js');
    const { writeFile } = await import('node:fs/promises');
    // The unsigned bytes are reproducible; a signed osb.efi differs by its signature (which holds
    // a signing time), not by its Authenticode digest.
    const { sha256File } = await import('../../lib/hash.js');
    const written = s.sbKey ? { sha256: await sha256File(p.uki), signed: true, unsigned: m.uki } : { ...m.uki, signed: false };
    const doc = { uki: { file: 'osb.efi', ...written }, authenticode: m.authenticode, cmdline, ...(verity ? { verity: { rootHash: verity.rootHash, salt: verity.salt } } : {}), pcr11: m.pcr11, sections: m.sections };
    await writeAtomic(p.pcr, (tmp) => writeFile(tmp, JSON.stringify(doc, null, 2) + '\n'));
    // The same reference values as an in-toto statement about the UKI, for a verifier's policy
    // (and for --sign-key, which signs it into osb.efi.intoto.dsse.json).
    const { statement } = await import('../../signing/dsse.js');
    const st = statement([{ name: 'osb.efi', sha256: written.sha256 }], UKI_REFERENCE_VALUES, { ...doc, uki: undefined });
    await writeAtomic(p.statement, (tmp) => writeFile(tmp, JSON.stringify(JSON.parse(st.toString('utf8')), null, 2) + '\n'));
    ctx.log.info(`wrote ${p.uki} (${m.uki.size} bytes); PCR 11 after systemd-stub: sha256 ${m.pcr11.sha256.stub}`);
  },
};
