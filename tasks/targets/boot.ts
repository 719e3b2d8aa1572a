/**
 * The boot target: start qemu with osb's kernel and the image or initrd, capture the serial
 * console to WORKDIR/logs/boot.log, and succeed when the agent's ready line appears.
 */
import { existsSync, statSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { CommandError, OsbError, UsageError, shellQuote } from '../../lib/errors.js';
import { isGuestArch, memoryFor, qemuBinary, type Accel, type BootSpec, type GuestArch } from '../../lib/qemu.js';
import { pvhEntry } from '../../lib/pvh.js';
import { loadsVmlinux, profilesFor, vmmArgv } from '../../lib/vmm.js';
import { hostArch } from '../../distros/index.js';
import type { Target } from '../engine/target.js';
import { imagePath, initrdPath, kernelPaths, rootHashPath, squashfsPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { hasDaxHeader, measuredVerity } from './image.js';
import { warnIfKernelCannotRead } from './initrd.js';

const CONSOLE_TAIL = 30;
/** What the kernel's dm-verity prints when a block does not match the tree (drivers/md/dm-verity-target.c). */
const VERITY_ERROR = /device-mapper: verity: .*(corrupted|error)/i;

/** The measured image's `dm-mod.create=... root=/dev/dm-0` and its dm table, from root_hash.txt. */
async function verityFor(s: Settings, dryRun: boolean): Promise<{ cmdline: string; table: string } | undefined> {
  if (!s.measuredRootfs) return undefined;
  // In a dry run the image (and its root hash) may be one the plan builds first.
  if (dryRun && !existsSync(rootHashPath(s))) {
    const table = '0 SECTORS verity 1 /dev/vda1 /dev/vda2 4096 4096 DATA_BLOCKS 0 sha256 ROOTHASH SALT';
    return { cmdline: `dm-mod.create="root,,,ro,${table}" root=/dev/dm-0`, table };
  }
  const p = await measuredVerity(s);
  const { verityCmdline, verityTable } = await import('../../image-builder/index.js');
  return { cmdline: verityCmdline(p), table: verityTable(p) };
}

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
  return arch;
}

async function runBoot(ctx: BuildContext, s: Settings): Promise<void> {
  const arch = guestArch(s);
  const kernel = resolveKernel(s, arch, ctx.dryRun);
  const useSquashfs = s.squashfs;
  const useInitrd = !useSquashfs && s.initrd;
  const artifactPath = useSquashfs ? squashfsPaths(s).image : useInitrd ? initrdPath(s) : imagePath(s);
  for (const p of useSquashfs ? [artifactPath, squashfsPaths(s).bootInitrd] : [artifactPath]) {
    if (!ctx.dryRun && !existsSync(p)) throw new OsbError(`nothing to boot: ${p} does not exist`, `run \`osb ${useSquashfs ? 'squashfs' : useInitrd ? 'initrd' : 'image'}\` first`);
  }
  const size = ctx.dryRun ? 0 : statSync(artifactPath).size;
  if (useInitrd && !s.kernel) await warnIfKernelCannotRead(ctx, s);
  const foreign = arch !== hostArch();
  if (foreign && s.accel === 'kvm') throw new OsbError(`KVM cannot run a ${arch} guest on this ${hostArch()} host`, 'use --accel tcg (or auto)');
  let accel: Accel = s.accel === 'kvm' ? 'kvm' : 'tcg';
  if (!ctx.dryRun && s.accel === 'auto' && !foreign) {
    const { probeKvm } = await import('../../lib/kvm-probe.js');
    const kvm = await probeKvm(ctx, qemuBinary(arch), kernel);
    accel = kvm.ok ? 'kvm' : 'tcg';
    if (!kvm.ok) ctx.log.warn(`using TCG (software emulation): ${kvm.why}${kvm.cached ? ' (probed earlier on this host; --accel kvm to insist)' : ''}`);
  }
  const verity = useSquashfs || useInitrd ? undefined : await verityFor(s, ctx.dryRun);
  const spec: BootSpec = {
    arch,
    kernel,
    accel,
    memoryMiB: s.memory ?? (useInitrd ? memoryFor(size, s.compression !== 'none') : 512),
    extraArgs: s.passthrough,
    artifact: useSquashfs
      ? { kind: 'squashfs', path: artifactPath, bootInitrd: squashfsPaths(s).bootInitrd }
      : useInitrd
      ? { kind: 'initrd', path: artifactPath }
      : { kind: 'image', path: artifactPath, format: s.format, fsType: s.fsType, nvdimm: hasDaxHeader(s) && s.format === 'raw', sizeBytes: size, ...(verity ? { verityCmdline: verity.cmdline, verityTable: verity.table } : {}) },
  };
  const argv = vmmArgv(s.vmm, spec);
  const as = s.vmm === 'qemu' ? '' : ` as ${s.vmm} boots it`;
  ctx.log.info(`booting ${useSquashfs ? 'squashfs' : useInitrd ? 'initrd' : 'image'} with ${await readlink(kernel).catch(() => kernel)} under ${accel.toUpperCase()}${as}`);
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
  const t0 = Date.now();
  const timer = setTimeout(() => ac.abort(), s.bootTimeout * 1000);
  try {
    await ctx.run(argv, {
      allowFail: true,
      cancel: ac.signal,
      onLine: (line) => {
        tail.push(line);
        if (tail.length > CONSOLE_TAIL) tail.shift();
        if (verityError === undefined && VERITY_ERROR.test(line)) verityError = line.trim();
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
    throw new CommandError({ argv, tail, logPath: ctx.run.logPath, message: `boot failed: dm-verity found data that does not match the root hash (${verityError})`, hint: 'the image was changed after it was built: rebuild it with `osb image --force --measured-rootfs`; the whole console is in the log' });
  }
  if (readyAt === undefined) {
    const why = Date.now() - t0 >= s.bootTimeout * 1000 ? `no ready line within ${s.bootTimeout} s` : 'the guest stopped before its ready line';
    throw new CommandError({ argv, tail, logPath: ctx.run.logPath, message: `boot failed: ${why} (pattern /${ready.source}/)`, hint: `raise --boot-timeout or check the agent; the whole console is in the log` });
  }
  ctx.log.info(`ready after ${((readyAt - t0) / 1000).toFixed(2)} s (${accel.toUpperCase()}, qemu start to ready line)`);
}

export const boot: Target = {
  name: 'boot',
  summary: "Boot the kernel with the image (or --initrd) under qemu and wait for the agent's ready line",
  passthrough: 'extra kernel arguments',
  deps: (s) => [...(s.kernel ? [] : ['kernel']), s.squashfs ? 'squashfs' : s.initrd ? 'initrd' : 'image'],
  settings: [],
  alwaysRun: true,
  outputs: () => [],
  tools: (s) => [`qemu-system-${s.arch ?? hostArch()}`],
  validate: (s) => void guestArch(s),
  run: runBoot,
};
