/**
 * The boot target: start qemu with osb's kernel and the image or initrd, capture the serial
 * console to WORKDIR/logs/boot.log, and succeed when the agent's ready line appears.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { CommandError, OsbError, UsageError, shellQuote } from '../../lib/errors.js';
import { isGuestArch, memoryFor, qemuBinary, type Accel, type BootSpec, type GuestArch } from '../../lib/qemu.js';
import { pvhEntry } from '../../lib/pvh.js';
import { loadsVmlinux, profilesFor, vmmArgv } from '../../lib/vmm.js';
import { FIRMWARE_REFUSED, findOvmf, prepareUefiBoot } from '../../lib/vtpm.js';
import { hostArch } from '../../distros/index.js';
import type { Target } from '../engine/target.js';
import { imagePath, initrdPath, kernelPaths, squashfsPaths, sysextPath, sysextVerityPath, ukiPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { hasDaxHeader, verityRoot } from './image.js';
import { warnIfKernelCannotRead } from './initrd.js';
import { kataVerityParams } from './sysext.js';

const CONSOLE_TAIL = 30;
/** What the kernel's dm-verity prints when a block does not match the tree (drivers/md/dm-verity-target.c). */
const VERITY_ERROR = /device-mapper: verity: .*(corrupted|error)/i;

/** The kernel to boot: --kernel, or the one osb built (vmlinux for the runtimes' profiles on x86_64, which start it through PVH). */
function resolveKernel(s: Settings, arch: string, dryRun: boolean): string {
  const vmlinux = loadsVmlinux(s.vmm, arch);
  const k = s.kernel ? resolve(s.kernel) : vmlinux ? kernelPaths(s).vmlinux : kernelPaths(s).vmlinuz;
  // In a dry run the kernel may be one the plan builds first.
  if (dryRun && !existsSync(k)) return k;
  if (!existsSync(k)) throw new OsbError(`no kernel to boot: ${k} does not exist`, 'run `osb kernel` first (or drop --no-deps), or pass --kernel PATH');
  if (!vmlinux) return k;
  const entry = pvhEntry(k);
  if (entry === 'none') throw new OsbError(`the ${s.vmm} profile starts vmlinux through its PVH entry, and ${k} has none (built without CONFIG_PVH=y)`, s.kernel ? 'give --kernel a vmlinux built with CONFIG_PVH=y' : 'rebuild the kernel: `osb kernel --force` (osb\'s x86_64 fragment sets CONFIG_PVH=y)');
  if (entry === 'not-elf') throw new OsbError(`the ${s.vmm} profile starts an uncompressed ELF vmlinux, and ${k} is not one (a bzImage?)`, `give --kernel the vmlinux (osb builds ${kernelPaths(s).vmlinux})`);
  return k;
}

/** The guest's arch, checked against what osb boots and what the profile boots (validate: before anything is built). */
function guestArch(s: Settings): GuestArch {
  const arch = s.arch ?? hostArch();
  if (!isGuestArch(arch)) throw new UsageError(`osb cannot boot ${arch} guests`, 'boot x86_64 or aarch64 guests');
  if (!profilesFor(arch).includes(s.vmm)) throw new UsageError(`the ${s.vmm} profile boots x86_64 guests`, `boot ${arch} guests with --vmm ${profilesFor(arch).join(' or --vmm ')}`);
  if (s.vmm !== 'qemu' && s.squashfs) throw new UsageError(`the ${s.vmm} profile boots an image or an initrd, not the squashfs`, 'boot the squashfs with --vmm qemu (its boot initrd mounts it)');
  if (s.sysext && !s.sysextName) throw new UsageError('osb boot --sysext attaches WORKDIR/NAME.raw, and no --sysext-name says which', 'pass --sysext-name NAME (the name osb sysext built)');
  // Kata's serial for a guest extension image, in virtio-blk's 20 bytes (the rest would be cut off).
  if (s.sysext && s.sysextName!.length > 10) throw new UsageError(`osb boot --sysext names the disk extension-${s.sysextName}, longer than the 20 bytes of a virtio-blk serial`, 'give the extension a --sysext-name of at most 10 characters, as Kata asks of guest extension images');
  if (s.secureBootVars && !s.uki) throw new UsageError('--secure-boot-vars is for osb boot --uki', 'add --uki');
  if (s.secureBoot && !s.uki) throw new UsageError('--secure-boot is for osb boot --uki', 'add --uki');
  if (s.secureBoot && s.secureBootVars) throw new UsageError('--secure-boot enrolls your --sb-cert, --secure-boot-vars boots a store of your own: give one of them', 'drop one of --secure-boot and --secure-boot-vars');
  if (s.secureBoot && !s.sbCert) throw new UsageError('--secure-boot enrolls the certificate the UKI is signed for, and no --sb-cert names one', 'sign the UKI with osb uki --sb-key KEY --sb-cert CERT (the workdir remembers both), then boot with --secure-boot');
  if (s.uki) {
    if (s.vmm !== 'qemu') throw new UsageError(`the ${s.vmm} profile starts a kernel directly, not a UKI through UEFI firmware`, 'boot the UKI with --vmm qemu');
    if (arch !== 'x86_64') throw new UsageError(`osb boots x86_64 UKIs (OVMF), not ${arch} ones`, 'boot an x86_64 UKI, or the initrd with --initrd');
    if (s.initrd || s.squashfs || s.image) throw new UsageError('--uki boots the UKI, which carries its own initrd', 'give one of --uki, --initrd, --image, --squashfs');
    if (s.sysext && s.sysextFor === 'kata') throw new UsageError("a Kata guest extension's verity parameters go on the kernel command line, and the UKI's is its own, measured", 'boot the image with the extension (--image), or attach a systemd extension (--for systemd)');
    if (s.passthrough.length) throw new UsageError("the UKI's command line is its own, measured into PCR 11: extra kernel arguments would not reach the kernel", `put them in --uki-cmdline and rebuild: osb uki --uki-cmdline "${s.ukiCmdline} ${s.passthrough.join(' ')}"`);
  }
  return arch;
}

/** The agent's line with the PCR 11 its TPM holds (rootfs-builder/agent/osb-agent.sh). */
const PCR_LINE = /osb-agent: tpm pcr-sha256\/11=([0-9A-Fa-f]{64})/;

/** The PCR 11 values osb uki predicted (osb.efi.pcr.json): after systemd-stub, then after each boot phase. */
async function predictedPcr11(s: Settings): Promise<{ stage: string; value: string }[]> {
  const file = ukiPaths(s).pcr;
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) throw new OsbError(`no PCR 11 prediction to compare with: ${file} does not exist`, 'run `osb uki` first (or drop --no-deps)');
  let doc: { pcr11?: { sha256?: { stub?: unknown; phases?: unknown } } };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new OsbError(`${file} is not JSON`, 'rebuild it: `osb uki --force`');
  }
  const bank = doc?.pcr11?.sha256;
  const hex = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
  const phases = Array.isArray(bank?.phases) ? (bank.phases as { phase?: unknown; value?: unknown }[]) : [];
  if (!hex(bank?.stub) || !phases.every((p) => typeof p?.phase === 'string' && hex(p.value))) throw new OsbError(`${file} holds no sha256 PCR 11 prediction`, 'rebuild it: `osb uki --force`');
  return [{ stage: 'systemd-stub', value: bank.stub }, ...phases.map((p) => ({ stage: `the ${String(p.phase)} phase`, value: String(p.value) }))];
}

async function runBoot(ctx: BuildContext, s: Settings): Promise<void> {
  const arch = guestArch(s);
  const useUki = s.uki;
  const kernel = useUki ? (s.kernel ? resolve(s.kernel) : kernelPaths(s).vmlinuz) : resolveKernel(s, arch, ctx.dryRun);
  const useSquashfs = !useUki && s.squashfs;
  const useInitrd = !useUki && !useSquashfs && s.initrd;
  const what = useUki ? 'UKI' : useSquashfs ? 'squashfs' : useInitrd ? 'initrd' : 'image';
  const artifactPath = useUki ? ukiPaths(s).uki : useSquashfs ? squashfsPaths(s).image : useInitrd ? initrdPath(s) : imagePath(s);
  for (const p of useSquashfs ? [artifactPath, squashfsPaths(s).bootInitrd] : useUki && s.measuredRootfs ? [artifactPath, imagePath(s)] : [artifactPath]) {
    if (!ctx.dryRun && !existsSync(p)) throw new OsbError(`nothing to boot: ${p} does not exist`, `run \`osb ${useUki ? 'uki' : useSquashfs ? 'squashfs' : useInitrd ? 'initrd' : 'image'}\` first`);
  }
  for (const p of s.sysext ? [sysextPath(s), ...(s.sysextFor === 'kata' ? [sysextVerityPath(s)] : [])] : []) {
    if (!ctx.dryRun && !existsSync(p)) throw new OsbError(`no extension to attach: ${p} does not exist`, 'run `osb sysext` first (or drop --no-deps)');
  }
  // Kata's runtime puts each guest extension's verity parameters on the kernel command line, where its guest's mount unit reads them.
  const kataExtension = s.sysext && s.sysextFor === 'kata' ? [`kata.extension.${s.sysextName}.verity_params${ctx.dryRun && !existsSync(sysextVerityPath(s)) ? '=(from osb sysext)' : `=${await kataVerityParams(s)}`}`] : [];
  const predicted = useUki && !ctx.dryRun ? await predictedPcr11(s) : [];
  const size = ctx.dryRun ? 0 : statSync(artifactPath).size;
  if (useInitrd && !s.kernel) await warnIfKernelCannotRead(ctx, s);
  const foreign = arch !== hostArch();
  if (foreign && s.accel === 'kvm') throw new OsbError(`KVM cannot run a ${arch} guest on this ${hostArch()} host`, 'use --accel tcg (or auto)');
  let accel: Accel = s.accel === 'kvm' ? 'kvm' : 'tcg';
  if (!ctx.dryRun && s.accel === 'auto' && !foreign && existsSync(kernel)) {
    const { probeKvm } = await import('../../lib/kvm-probe.js');
    const kvm = await probeKvm(ctx, qemuBinary(arch), kernel);
    accel = kvm.ok ? 'kvm' : 'tcg';
    if (!kvm.ok) ctx.log.warn(`using TCG (software emulation): ${kvm.why}${kvm.cached ? ' (probed earlier on this host; --accel kvm to insist)' : ''}`);
  }
  const vars = s.secureBoot ? await enrolledVars(ctx, s) : s.secureBootVars ? resolve(s.secureBootVars) : undefined;
  const uefi = useUki ? await prepareUefiBoot(ctx, artifactPath, join(s.workdir, '.osb'), vars) : undefined;
  try {
    const verity = useUki || useSquashfs || useInitrd ? undefined : await verityRoot(s, ctx.dryRun);
    const spec: BootSpec = {
      arch,
      kernel,
      accel,
      // A UKI carries its initrd; the firmware holds the whole file in memory as well.
      memoryMiB: s.memory ?? (useUki ? memoryFor(size, true) + 256 : useInitrd ? memoryFor(size, s.compression !== 'none') : 512),
      extraArgs: [...s.passthrough, ...kataExtension],
      ...(s.sysext ? { extensions: [{ path: sysextPath(s), name: s.sysextName! }] } : {}),
      artifact: uefi
        ? { kind: 'uki', esp: uefi.esp, code: uefi.code, vars: uefi.vars, secureBoot: uefi.secureBoot, tpmSocket: uefi.tpmSocket, ...(s.measuredRootfs ? { disk: { path: imagePath(s), format: s.format } } : {}) }
        : useSquashfs
        ? { kind: 'squashfs', path: artifactPath, bootInitrd: squashfsPaths(s).bootInitrd }
        : useInitrd
        ? { kind: 'initrd', path: artifactPath }
        : { kind: 'image', path: artifactPath, format: s.format, fsType: s.fsType, nvdimm: hasDaxHeader(s) && s.format === 'raw', sizeBytes: size, ...(verity ? { verityCmdline: verity.cmdline, verityTable: verity.table } : {}) },
    };
    const argv = vmmArgv(s.vmm, spec);
    const as = s.vmm === 'qemu' ? '' : ` as ${s.vmm} boots it`;
    const by = useUki ? `${artifactPath} under OVMF with a software TPM` : `${await readlink(kernel).catch(() => kernel)}`;
    ctx.log.info(`booting ${what} with ${by} under ${accel.toUpperCase()}${as}`);
    // The exact command line, to paste into a runtime's configuration (a dry run prints it as it would run it).
    if (!ctx.dryRun) ctx.log.info(`command line: ${shellQuote(argv)}`);
    if (s.interactive) {
      await ctx.run(argv, { interactive: true });
      return;
    }
    const ready = new RegExp(s.readyPattern);
    const tail: string[] = [];
    const ac = new AbortController();
    let readyAt: number | undefined;
    let verityError: string | undefined;
    let pcr11: string | undefined;
    let refused: string | undefined;
    const t0 = Date.now();
    const timer = setTimeout(() => ac.abort(), s.bootTimeout * 1000);
    try {
      await ctx.run(argv, {
        allowFail: true,
        cancel: ac.signal,
        onLine: (line) => {
          tail.push(line);
          if (tail.length > CONSOLE_TAIL) tail.shift();
          if (verityError === undefined && VERITY_ERROR.test(line)) {
            verityError = line.trim();
            // The boot has failed; what the guest prints next (its failed read) is worth a moment,
            // a guest whose init could not be read (a shell as init, waiting) is not worth the timeout.
            setTimeout(() => ac.abort(), 3000);
          }
          pcr11 ??= PCR_LINE.exec(line)?.[1]?.toLowerCase();
          if (uefi && refused === undefined && FIRMWARE_REFUSED.test(line)) {
            // The firmware falls back to its boot menu and waits there: nothing more will come.
            refused = line.trim();
            ac.abort();
          }
          if (readyAt === undefined && ready.test(line)) {
            readyAt = Date.now();
            // The agent powers off after its ready line; give it a moment, then stop qemu.
            setTimeout(() => ac.abort(), 3000);
          }
        },
      });
    } catch (e) {
      if (readyAt === undefined && !(e instanceof CommandError)) throw e;
    } finally {
      clearTimeout(timer);
    }
    if (ctx.dryRun) return;
    if (verityError !== undefined) {
      throw new CommandError({ argv, tail, logPath: ctx.run.logPath, message: `dm-verity found data that does not match the root hash (${verityError})`, hint: `the image${s.sysext ? ' or the extension' : ''} was changed after it was built: rebuild it with \`osb image --force --measured-rootfs\`${s.sysext ? ' (the extension: `osb sysext --force`)' : ''}; the whole console is in the log` });
    }
    if (refused !== undefined) {
      throw new CommandError({ argv, tail, logPath: ctx.run.logPath, message: `the firmware's Secure Boot refused the UKI (${refused.replace(/^BdsDxe: /, '')})`, hint: 'sign it with a key the variable store\'s db holds: osb uki --sb-key KEY --sb-cert CERT' });
    }
    if (readyAt === undefined) {
      const why = Date.now() - t0 >= s.bootTimeout * 1000 ? `no ready line within ${s.bootTimeout} s` : 'the guest stopped before its ready line';
      throw new CommandError({ argv, tail, logPath: ctx.run.logPath, message: `${why} (pattern /${ready.source}/)`, hint: `raise --boot-timeout or check the agent; the whole console is in the log` });
    }
    ctx.log.info(`ready after ${((readyAt - t0) / 1000).toFixed(2)} s (${accel.toUpperCase()}, qemu start to ready line)`);
    if (!useUki) return;
    if (pcr11 === undefined) {
      throw new CommandError({ argv, tail, logPath: ctx.run.logPath, message: 'the guest read no PCR 11 from its TPM', hint: "the agent prints it from /sys/class/tpm/tpm0/pcr-sha256/11: boot osb's kernel (CONFIG_TCG_TIS) with osb's agent as init" });
    }
    const match = predicted.find((p) => p.value === pcr11);
    if (!match) {
      throw new OsbError(`the guest's PCR 11 is sha256:${pcr11}, and osb predicted sha256:${predicted[0]!.value} (${ukiPaths(s).pcr}): the UKI that booted is not the one osb measured`, 'rebuild it with `osb uki --force`; a verifier would refuse this guest');
    }
    ctx.log.info(`PCR 11 read in the guest is the predicted one after ${match.stage}: sha256:${pcr11}`);
  } finally {
    await uefi?.close();
  }
}

/**
 * --secure-boot: OVMF's empty variable store with --sb-cert enrolled as PK, KEK and db and
 * Secure Boot on (lib/efivars.ts), written to WORKDIR/osb.efi.vars.fd (the same bytes for the
 * same certificate, firmware and SOURCE_DATE_EPOCH), which the boot then copies as any store.
 */
async function enrolledVars(ctx: BuildContext, s: Settings): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const { X509Certificate, createHash } = await import('node:crypto');
  const { enrollKeys } = await import('../../lib/efivars.js');
  const { formatUuid } = await import('../../lib/dps.js');
  const out = ukiPaths(s).vars;
  const certPath = resolve(s.sbCert!);
  const template = findOvmf(true).vars;
  let cert: InstanceType<typeof X509Certificate>;
  try {
    cert = new X509Certificate(await readFile(certPath));
  } catch (e) {
    throw new OsbError(`--sb-cert ${certPath} is not a certificate (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give the PEM certificate the UKI was signed for (osb uki --sb-cert)');
  }
  // The signature lists' owner: named after the certificate, so the same key gives the same store.
  const owner = formatUuid(createHash('sha256').update(cert.raw).digest().subarray(0, 16));
  const bytes = enrollKeys(await readFile(template), { cert: cert.raw, owner, time: new Date(s.sourceDateEpoch * 1000) }, template);
  if (ctx.dryRun) {
    ctx.log.info(`would write ${out}: ${template} with ${cert.subject.replace(/\n/g, ', ')} enrolled as PK, KEK and db`);
    return out;
  }
  const { writeAtomic } = await import('../../lib/atomic.js');
  const same = await readFile(out).then((b) => b.equals(bytes), () => false);
  if (!same) await writeAtomic(out, (tmp) => writeFile(tmp, bytes));
  ctx.log.info(`Secure Boot with ${out}: ${cert.subject.replace(/\n/g, ', ')} enrolled as PK, KEK and db`);
  return out;
}

export const boot: Target = {
  name: 'boot',
  summary: "Boot the kernel with the image (or --initrd, --squashfs, --uki) under qemu and wait for the agent's ready line",
  passthrough: 'extra kernel arguments',
  deps: (s) => [...(s.uki ? ['uki'] : [...(s.kernel ? [] : ['kernel']), s.squashfs ? 'squashfs' : s.initrd ? 'initrd' : 'image']), ...(s.sysext ? ['sysext'] : [])],
  settings: [],
  alwaysRun: true,
  outputs: () => [],
  tools: (s) => [`qemu-system-${s.arch ?? hostArch()}`, ...(s.uki ? ['swtpm'] : [])],
  validate: (s) => void guestArch(s),
  run: runBoot,
};
