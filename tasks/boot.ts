/**
 * The boot target: start qemu with osb's kernel and the image or initrd, capture the serial
 * console to WORKDIR/logs/boot.log, and succeed when the agent's ready line appears.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { CommandError, OsbError } from '../lib/errors.js';
import { KERNEL_BANNER, memoryFor, qemuArgv, type Accel, type BootSpec } from '../lib/qemu.js';
import { imagePath, initrdPath, kernelPaths, squashfsPaths } from './paths.js';
import type { Settings } from './settings.js';

const CONSOLE_TAIL = 30;

/**
 * Can /dev/kvm run a guest? On a nested, paravirtual KVM the ioctls answer but guests hang
 * silently after real mode, so the device node proves nothing: boot the kernel for a few
 * seconds and look for its banner on the console.
 */
export async function probeKvm(ctx: BuildContext, kernel: string): Promise<{ ok: boolean; why: string }> {
  const forced = process.env.OSB_ACCEL;
  if (forced === 'tcg') return { ok: false, why: 'OSB_ACCEL=tcg' };
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, why: '/dev/kvm is not usable' };
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 4000);
  let seen = false;
  try {
    await ctx.run(['qemu-system-x86_64', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-accel', 'kvm', '-m', '128', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 rdinit=/osb-kvm-probe'], {
      readOnly: true,
      allowFail: true,
      quiet: true,
      cancel: ac.signal,
      onLine: (l) => {
        if (KERNEL_BANNER.test(l)) {
          seen = true;
          ac.abort();
        }
      },
    });
  } catch {
    // cancelled or failed: `seen` says what we learnt
  } finally {
    clearTimeout(timer);
  }
  return seen ? { ok: true, why: 'KVM runs guests' } : { ok: false, why: '/dev/kvm is present but a test guest printed nothing within 4 s' };
}

function resolveKernel(s: Settings, dryRun: boolean): string {
  const k = s.kernel ? resolve(String(s.kernel)) : kernelPaths(s).vmlinuz;
  // In a dry run the kernel may be one the plan builds first.
  if (!dryRun && !existsSync(k)) throw new OsbError(`no kernel to boot: ${k} does not exist`, 'run `osb kernel` first (or drop --no-deps), or pass --kernel PATH');
  return k;
}

export async function runBootTarget(ctx: BuildContext, s: Settings): Promise<void> {
  const kernel = resolveKernel(s, ctx.dryRun);
  const useSquashfs = Boolean(s.squashfs);
  const useInitrd = !useSquashfs && Boolean(s.initrd);
  const artifactPath = useSquashfs ? squashfsPaths(s).image : useInitrd ? initrdPath(s) : imagePath(s);
  for (const p of useSquashfs ? [artifactPath, squashfsPaths(s).bootInitrd] : [artifactPath]) {
    if (!ctx.dryRun && !existsSync(p)) throw new OsbError(`nothing to boot: ${p} does not exist`, `run \`osb ${useSquashfs ? 'squashfs' : useInitrd ? 'initrd' : 'image'}\` first`);
  }
  const size = ctx.dryRun ? 0 : statSync(artifactPath).size;
  if (useInitrd && !s.kernel) await (await import('./targets.js')).warnIfKernelCannotRead(ctx, s);
  let accel: Accel = 'tcg';
  if (!ctx.dryRun) {
    const kvm = await probeKvm(ctx, kernel);
    accel = kvm.ok ? 'kvm' : 'tcg';
    if (!kvm.ok) ctx.log.warn(`using TCG (software emulation): ${kvm.why}`);
  }
  const spec: BootSpec = {
    kernel,
    accel,
    memoryMiB: s.memory ? Number(s.memory) : useInitrd ? memoryFor(size, s.compression !== 'none') : 512,
    extraArgs: (s.passthrough as string[] | undefined) ?? [],
    artifact: useSquashfs
      ? { kind: 'squashfs', path: artifactPath, bootInitrd: squashfsPaths(s).bootInitrd }
      : useInitrd
      ? { kind: 'initrd', path: artifactPath }
      : { kind: 'image', path: artifactPath, format: s.format as 'raw', fsType: s.fsType as 'ext4', nvdimm: Boolean(s.dax) && s.format === 'raw', sizeBytes: size },
  };
  const argv = qemuArgv(spec);
  ctx.log.info(`booting ${useSquashfs ? 'squashfs' : useInitrd ? 'initrd' : 'image'} with ${await readlink(kernel).catch(() => kernel)} under ${accel.toUpperCase()}`);
  if (s.interactive) {
    await ctx.run(argv, { interactive: true });
    return;
  }
  const ready = new RegExp(String(s.readyPattern));
  const tail: string[] = [];
  const ac = new AbortController();
  let readyAt: number | undefined;
  const t0 = Date.now();
  const timer = setTimeout(() => ac.abort(), Number(s.bootTimeout) * 1000);
  try {
    await ctx.run(argv, {
      allowFail: true,
      cancel: ac.signal,
      onLine: (line) => {
        tail.push(line);
        if (tail.length > CONSOLE_TAIL) tail.shift();
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
  if (readyAt === undefined) {
    const why = Date.now() - t0 >= Number(s.bootTimeout) * 1000 ? `no ready line within ${s.bootTimeout} s` : 'the guest stopped before its ready line';
    throw new CommandError({ argv, tail, logPath: ctx.run.logPath, message: `boot failed: ${why} (pattern /${ready.source}/)`, hint: `raise --boot-timeout or check the agent; the whole console is in the log` });
  }
  ctx.log.info(`ready after ${((readyAt - t0) / 1000).toFixed(2)} s (${accel.toUpperCase()}, qemu start to ready line)`);
}
