/**
 * What a UEFI boot with a TPM needs beside qemu: the OVMF firmware (its code read-only, a private
 * copy of its variable store), an EFI system partition holding the UKI at the removable-media
 * path the firmware boots by default (EFI/BOOT/BOOTX64.EFI, served by qemu's vvfat driver from a
 * directory), and a software TPM 2.0 (swtpm) on a unix socket, with fresh state, for qemu's
 * tpm-tis device. Everything lives in one temporary directory that is removed with swtpm stopped,
 * on every exit path.
 */
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildContext } from './context.js';
import { onCleanup } from './cleanup.js';
import { OsbError } from './errors.js';

/**
 * OVMF's 4 MiB build (code, empty variable template), where Debian, Fedora and Arch put it, and
 * its Secure Boot build (secboot: the variable store behind SMM, so a guest cannot rewrite db).
 */
const OVMF: readonly { code: string; secboot: string; vars: string }[] = [
  { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', secboot: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  { code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', secboot: '/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd', vars: '/usr/share/edk2/ovmf/OVMF_VARS.fd' },
  { code: '/usr/share/edk2/x64/OVMF_CODE.4m.fd', secboot: '/usr/share/edk2/x64/OVMF_CODE.secboot.4m.fd', vars: '/usr/share/edk2/x64/OVMF_VARS.4m.fd' },
];

export function findOvmf(secureBoot: boolean): { code: string; vars: string } {
  const f = OVMF.find((o) => existsSync(secureBoot ? o.secboot : o.code) && existsSync(o.vars));
  if (!f) throw new OsbError(`no OVMF ${secureBoot ? 'Secure Boot ' : ''}firmware found (looked for ${OVMF.map((o) => (secureBoot ? o.secboot : o.code)).join(', ')})`, 'apt-get install ovmf (Fedora: edk2-ovmf)');
  return { code: secureBoot ? f.secboot : f.code, vars: f.vars };
}

/** What OVMF's boot manager prints when Secure Boot refuses an image (MdeModulePkg BdsDxe). */
export const FIRMWARE_REFUSED = /BdsDxe: failed to (load|start) .*: (Access Denied|Security Violation)/;

export interface UefiBoot {
  /** The directory qemu serves as the EFI system partition. */
  readonly esp: string;
  readonly code: string;
  /** The firmware's variable store, a copy the guest may write. */
  readonly vars: string;
  /** Booted with Secure Boot's firmware build and the given variables (PK, KEK, db). */
  readonly secureBoot: boolean;
  /** swtpm's control socket, for `-chardev socket,path=`. */
  readonly tpmSocket: string;
  /** Stop swtpm and remove everything. */
  readonly close: () => Promise<void>;
}

/** Whether `pid` still runs (a zombie waiting for its reaper does not). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) [ZX] /.test(stat);
}

/** SIGTERM, then SIGKILL after 2 s; returns once the process has stopped. */
async function stopProcess(pid: number): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone: --terminate ends swtpm when qemu closes the connection
    }
  };
  if (!(await running(pid))) return;
  signal('SIGTERM');
  for (let i = 0; i < 40 && (await running(pid)); i++) {
    if (i === 20) signal('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A unix socket path must fit in sun_path (108 bytes); a deep workdir falls back to the system's temporary directory. */
const SUN_PATH = 100;

/**
 * Stage the ESP and the firmware's variables under `parent` (the workdir's .osb), start swtpm,
 * and wait for its socket. `secureBootVars` is a variable store with Secure Boot's keys enrolled
 * (and Secure Boot on): the firmware then refuses a UKI its db does not sign. In a dry run
 * nothing is made or started; the paths are still given.
 */
export async function prepareUefiBoot(ctx: BuildContext, uki: string, parent: string, secureBootVars?: string): Promise<UefiBoot> {
  const fw = findOvmf(secureBootVars !== undefined);
  if (secureBootVars !== undefined && !existsSync(secureBootVars)) throw new OsbError(`the Secure Boot variable store ${secureBootVars} does not exist`, 'give --secure-boot-vars an OVMF_VARS file with your keys enrolled (Debian\'s test keys: /usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd)');
  if (ctx.dryRun) {
    // Shown, not made: a dry run writes nothing.
    const dir = join(parent, 'uefi-boot-XXXXXX');
    return { esp: join(dir, 'esp'), code: fw.code, vars: join(dir, 'OVMF_VARS.fd'), secureBoot: secureBootVars !== undefined, tpmSocket: join(dir, 'swtpm.sock'), close: async () => {} };
  }
  await mkdir(parent, { recursive: true });
  let dir = await mkdtemp(join(parent, 'uefi-boot-'));
  if (join(dir, 'swtpm.sock').length > SUN_PATH) {
    await rm(dir, { recursive: true, force: true });
    dir = await mkdtemp(join(tmpdir(), 'osb-uefi-boot-'));
  }
  const pidFile = join(dir, 'swtpm.pid');
  const stop = async (): Promise<void> => {
    const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    if (pid > 0) await stopProcess(pid);
    await rm(dir, { recursive: true, force: true });
  };
  const release = onCleanup(stop);
  const close = async (): Promise<void> => {
    release();
    await stop();
  };
  const b: UefiBoot = { esp: join(dir, 'esp'), code: fw.code, vars: join(dir, 'OVMF_VARS.fd'), secureBoot: secureBootVars !== undefined, tpmSocket: join(dir, 'swtpm.sock'), close };
  try {
    const boot = join(b.esp, 'EFI', 'BOOT');
    await mkdir(boot, { recursive: true });
    await mkdir(join(dir, 'tpm'));
    // A hard link where the workdir's file system allows it: the UKI is tens of MiB.
    await link(uki, join(boot, 'BOOTX64.EFI')).catch(() => copyFile(uki, join(boot, 'BOOTX64.EFI')));
    await copyFile(secureBootVars ?? fw.vars, b.vars);
    await ctx.run(['swtpm', 'socket', '--tpm2', '--tpmstate', `dir=${join(dir, 'tpm')}`, '--ctrl', `type=unixio,path=${b.tpmSocket}`, '--terminate', '--daemon', '--pid', `file=${pidFile}`, '--log', `file=${join(dir, 'swtpm.log')},level=1`], { hint: 'apt-get install swtpm' });
    for (let i = 0; i < 50 && !existsSync(b.tpmSocket); i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(b.tpmSocket)) {
      const log = (await readFile(join(dir, 'swtpm.log'), 'utf8').catch(() => '')).trim().split('\n').pop();
      throw new OsbError(`swtpm started but its socket never appeared${log ? `: ${log}` : ''}`, 'run `swtpm socket --tpm2 --ctrl type=unixio,path=/tmp/t.sock` by hand to see why');
    }
    return b;
  } catch (e) {
    await close();
    throw e;
  }
}
