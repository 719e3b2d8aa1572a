/**
 * `osb squashfs`: the rootfs as a squashfs, what OpenCHAMI's image-build publishes for network
 * boot, and the tree of the small boot initrd that mounts it with a writable overlay.
 *
 * mksquashfs is reproducible by itself (since 4.4): it sorts every directory, and with
 * SOURCE_DATE_EPOCH (which lib/run.ts always sets) every inode time and the filesystem time are
 * that value; -noappend so an old file is never extended. With several processors the output is
 * still the same bytes (tests/oci-builder/squashfs.test.ts builds twice and compares).
 */
import { chmod, copyFile, open } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeAtomic } from '../lib/atomic.js';
import { mkdirMode, writeFileMode } from '../lib/modes.js';
import { compressedEstimate, treeDataBytes, writingUnder } from '../lib/space.js';
import type { BuildContext } from '../lib/context.js';
import { OsbError, UsageError } from '../lib/errors.js';
import { checkRootfs } from './stage.js';

export type SquashfsCompression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'lzo';
export const SQUASHFS_COMPRESSIONS: readonly SquashfsCompression[] = ['zstd', 'gzip', 'xz', 'lz4', 'lzo'];

export interface SquashfsOptions {
  readonly rootfsDir: string;
  readonly output: string;
  /** @default 'zstd' (osb's kernel reads every mksquashfs compressor) */
  readonly compression?: SquashfsCompression;
}

export function squashfsArgv(rootfsDir: string, output: string, c: SquashfsCompression): string[] {
  return ['mksquashfs', rootfsDir, output, '-noappend', '-comp', c, '-no-progress', '-quiet'];
}

export async function buildSquashfs(ctx: BuildContext, o: SquashfsOptions): Promise<void> {
  const c = o.compression ?? 'zstd';
  if (!SQUASHFS_COMPRESSIONS.includes(c)) throw new UsageError(`unknown squashfs compression "${c}"; valid: ${SQUASHFS_COMPRESSIONS.join(', ')}`);
  if (ctx.dryRun) {
    await ctx.run(squashfsArgv(o.rootfsDir, o.output, c));
    return;
  }
  checkRootfs(o.rootfsDir, [o.output]);
  const need = compressedEstimate(treeDataBytes(o.rootfsDir), c);
  await writingUnder(dirname(resolve(o.output)), need, () => writeAtomic(o.output, async (tmp) => {
    await ctx.run(squashfsArgv(o.rootfsDir, tmp, c), { quiet: true, hint: 'mksquashfs is in package squashfs-tools' });
    // Verify what was written: the superblock magic "hsqs" and the compressor it names.
    const fh = await open(tmp, 'r');
    const sb = Buffer.alloc(96);
    await fh.read(sb, 0, 96, 0);
    await fh.close();
    if (sb.toString('latin1', 0, 4) !== 'hsqs') throw new OsbError(`${o.output}: mksquashfs wrote no squashfs superblock`, 'check free space and the mksquashfs log');
  }));
  ctx.log.info(`wrote ${o.output} (squashfs, ${c})`);
}

/**
 * /init of the squashfs boot initrd, run by busybox sh: find the squashfs disk, mount it
 * read-only, put a tmpfs overlay over it and switch_root into it; the rootfs's own /sbin/init
 * (the agent) then runs as PID 1 with a writable /. This is what dracut's livenet module does
 * for network boot (rd.live.image with an overlay), in twenty lines.
 */
export const BOOT_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /lower /rw /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dev=/dev/vda
for arg in $(cat /proc/cmdline); do
  case "$arg" in osb.squashfs=*) dev="\${arg#osb.squashfs=}" ;; esac
done
i=0
while [ ! -b "$dev" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
fail() { echo "osb-boot: $*" >/dev/console; exec sh; }
mount -t squashfs -o ro "$dev" /lower || fail "cannot mount the squashfs $dev"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "cannot mount a tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "cannot mount the overlay"
umount /proc /sys
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /sbin/init
`;

/** What the boot initrd is made of (busybox's bytes and /init), so an unchanged one is not rebuilt. */
export async function bootTreeInputs(busybox = '/bin/busybox'): Promise<string> {
  const { sha256, sha256File } = await import('../lib/hash.js');
  return `busybox ${existsSync(busybox) ? await sha256File(busybox) : 'missing'} init ${sha256(BOOT_INIT)}`;
}

/** True when the 64-bit ELF at `path` has no program interpreter (PT_INTERP): it runs without a libc. */
export async function isStaticElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const h = Buffer.alloc(64);
    await fh.read(h, 0, 64, 0);
    if (h.toString('latin1', 0, 4) !== '\x7fELF' || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    await fh.close();
  }
}

/** Write the boot initrd's tree into `dir`: the host's static busybox and /init. */
export async function writeSquashfsBootTree(dir: string, busybox = '/bin/busybox'): Promise<void> {
  if (!existsSync(busybox) || !(await isStaticElf(busybox))) {
    throw new OsbError(`${busybox} is missing or not statically linked: the squashfs boot initrd needs a static busybox`, 'apt-get install busybox-static');
  }
  // Every mode explicit: the initrd's entries must not follow the umask.
  await mkdirMode(dir, 0o755);
  await chmod(dir, 0o755); // the initramfs's / (a mkdtemp directory is 0700)
  for (const d of ['bin', 'dev', 'proc', 'sys']) await mkdirMode(join(dir, d), 0o755);
  await copyFile(busybox, join(dir, 'bin', 'busybox'));
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  await writeFileMode(join(dir, 'init'), BOOT_INIT, 0o755);
}
