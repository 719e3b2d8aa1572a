/**
 * Foreign-architecture builds run the guest's own binaries (dpkg maintainer scripts, apk
 * triggers) through qemu-user, which the kernel starts for them by binfmt_misc. This checks, by
 * reading binfmt_misc's files, that the handler for an arch is registered and enabled, with the
 * F flag (the interpreter opened at registration, so it also works inside a chroot that does not
 * contain it: how qemu-user-static registers it).
 * https://docs.kernel.org/admin-guide/binfmt-misc.html
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BINFMT_MISC = '/proc/sys/fs/binfmt_misc';

/** The binfmt_misc entry qemu-user-static (binfmt-support) registers for an osb arch. */
export const binfmtEntry = (arch: string): string => `qemu-${arch}`;

export type BinfmtStatus = { readonly ok: true } | { readonly ok: false; readonly why: string; readonly fix: string };

/** One line saying how to get the handler on Debian/Ubuntu hosts. */
export function binfmtFix(arch: string, dir = BINFMT_MISC): string {
  return `mount -t binfmt_misc binfmt_misc ${dir} && update-binfmts --enable ${binfmtEntry(arch)} (from qemu-user-static and binfmt-support: osb check-deps --install)`;
}

/**
 * Whether the kernel runs ARCH binaries through qemu-user. `dir` is where binfmt_misc is
 * mounted (a parameter so a test can point it at a directory it made).
 */
export function binfmtStatus(arch: string, dir = BINFMT_MISC): BinfmtStatus {
  const fix = binfmtFix(arch, dir);
  const read = (name: string): string | undefined => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const status = read('status');
  if (status === undefined) return { ok: false, why: `binfmt_misc is not mounted at ${dir}`, fix };
  if (status.trim() !== 'enabled') return { ok: false, why: `binfmt_misc is disabled (${join(dir, 'status')} says ${status.trim()})`, fix };
  const entry = read(binfmtEntry(arch));
  if (entry === undefined) return { ok: false, why: `no binfmt_misc handler for ${arch} is registered (${join(dir, binfmtEntry(arch))} is missing)`, fix };
  const lines = entry.split('\n');
  if (lines[0]?.trim() !== 'enabled') return { ok: false, why: `the binfmt_misc handler ${binfmtEntry(arch)} is disabled`, fix };
  const flags = /^flags:\s*(\S*)/m.exec(entry)?.[1] ?? '';
  if (!flags.includes('F')) {
    return { ok: false, why: `the binfmt_misc handler ${binfmtEntry(arch)} lacks the F flag, so it fails inside a chroot`, fix: `update-binfmts --disable ${binfmtEntry(arch)} and install qemu-user-static, which registers it with F` };
  }
  return { ok: true };
}
