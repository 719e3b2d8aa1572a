/**
 * Can /dev/kvm run a guest? On a nested, paravirtual KVM the ioctls answer but guests hang
 * silently after real mode, so the device node proves nothing: a short test boot of the kernel
 * must print its banner. That costs seconds, and the answer belongs to the host, not to the
 * boot: it is kept per host in ~/.cache/osb/kvm-probe.json, keyed by the host kernel's release,
 * qemu's version and /dev/kvm's identity (device number, inode, creation time), so an upgrade or
 * a reboot probes again.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir, release } from 'node:os';
import { dirname, join } from 'node:path';
import { writeAtomic } from './atomic.js';
import type { BuildContext } from './context.js';
import { hashValue } from './hash.js';
import { KERNEL_BANNER } from './qemu.js';

export interface KvmVerdict {
  readonly ok: boolean;
  readonly why: string;
  /** The verdict came from an earlier probe on this host. */
  readonly cached: boolean;
}

export function probeCachePath(): string {
  return join(process.env.XDG_CACHE_HOME || join(process.env.HOME || homedir(), '.cache'), 'osb', 'kvm-probe.json');
}

function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function hostKey(ctx: BuildContext, qemu: string): Promise<string> {
  const v = await ctx.run([qemu, '--version'], { readOnly: true, quiet: true, allowFail: true }).catch(() => ({ stdout: 'unknown' }));
  const st = statSync('/dev/kvm');
  return hashValue({ kernel: release(), qemu: v.stdout.split('\n')[0], kvm: [st.rdev, st.ino, st.ctimeMs] });
}

/** Boot `kernel` under KVM for a few seconds and look for its banner on the console. */
async function testBoot(ctx: BuildContext, qemu: string, kernel: string): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 4000);
  let seen = false;
  try {
    await ctx.run([qemu, '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-accel', 'kvm', '-m', '128', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 rdinit=/osb-kvm-probe'], {
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
  return seen;
}

/** The accelerator verdict for this host: cached, else probed once and cached. */
export async function probeKvm(ctx: BuildContext, qemu: string, kernel: string): Promise<KvmVerdict> {
  if (!kvmUsable()) return { ok: false, why: '/dev/kvm is not usable', cached: false };
  const key = await hostKey(ctx, qemu);
  const path = probeCachePath();
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as { key: string; ok: boolean; why: string };
    if (c.key === key) return { ok: c.ok, why: c.why, cached: true };
  } catch {
    // no cache, or a damaged one: probe
  }
  const ok = await testBoot(ctx, qemu, kernel);
  const verdict = { ok, why: ok ? 'KVM runs guests' : '/dev/kvm is present but a test guest printed nothing within 4 s' };
  if (!ctx.dryRun) {
    try {
      if (!existsSync(dirname(path))) await mkdir(dirname(path), { recursive: true });
      await writeAtomic(path, (tmp) => writeFile(tmp, JSON.stringify({ key, ...verdict, probedAt: new Date().toISOString() }, null, 2) + '\n'));
    } catch {
      // an unwritable cache only means probing again next time
    }
  }
  return { ...verdict, cached: false };
}
