/**
 * osb image against the classic loop-mount method, in the same run on the same rootfs.
 *   npx tsc -p tsconfig.build.json && node dist/bench/image.js [RUNS]
 * Baselines (shell, as root):
 *  - "kata": the steps of Kata's tools/osbuilder/image-builder/image_builder.sh for ext4 with the
 *    DAX header: trial sizing (create, partition, losetup, mkfs, tune2fs, mount, df; rootfs MiB +
 *    10 MiB steps), + 2 MiB, rounded up to 128 MiB; then create, partition, losetup, mkfs, tune2fs,
 *    mount, cp -a, sync, umount, fsck.ext4 -D, losetup -d; then the header disk (create, parted,
 *    the 4 KiB PFN block), sync, and the image copied behind it, sync. Partitions are attached with
 *    `losetup -o 1MiB --sizelimit` instead of `losetup -P` + udev, which this host lacks.
 *  - "classic": the bare sequence (qemu-img create + parted + losetup + mkfs.ext4 + mount + cp -a
 *    + umount + losetup -d) at the size the trial loop found, no sync, fsck or DAX header.
 * Goals: osb (default, with DAX header) <= 0.4x of Kata's steps; image no larger than Kata's.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inTempDir, measure, runAsScript, type BenchRow, type Measured } from './lib.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The command that builds an image with osb. Until `osb image` is wired, a thin driver around buildImage. */
/** The CLI as users run it; --no-deps: the rootfs is the benchmark's own Debian tree. */
const OSB = `${process.execPath} ${join(HERE, '..', 'tasks', 'main.js')} image --no-deps`;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

/** $1 image, $2 rootfs, $3 "kata" or "classic". Every loop device and mount it makes is released on exit. */
const CLASSIC_SH = String.raw`
set -eu
img=$1; rootfs=$2; mode=$3
mnt=$(mktemp -d); dev=
cleanup() { mountpoint -q "$mnt" && umount "$mnt"; [ -n "$dev" ] && losetup -d "$dev"; rmdir "$mnt"; }
trap cleanup EXIT
disk() { rm -f "$1"; qemu-img create -q -f raw "$1" "$2M"; parted -s -a optimal "$1" -- mklabel msdos mkpart primary ext4 "$3M" -1s; }
attach() { dev=$(losetup -f --show -o $(($2 * 1048576)) --sizelimit $((($3 - $2) * 1048576)) "$1"); }
detach() { losetup -d "$dev"; dev=; }
rootfs_mb=$(du -B 1M -s "$rootfs" | cut -f1)
i=1
while :; do
  size=$((rootfs_mb + i * 10))
  disk "$img.try" $size 1; attach "$img.try" 1 $size
  mkfs.ext4 -q -F -b 4096 "$dev"; tune2fs -m 3 "$dev" > /dev/null
  mount "$dev" "$mnt"; avail=$(df -BM --output=avail "$mnt" | tail -n1 | tr -d 'M '); umount "$mnt"; detach
  [ "$avail" -gt "$rootfs_mb" ] && break
  i=$((i + 1)); [ $i -le 20 ] || exit 1
done
rm -f "$img.try"
total=$(( (size + 2 + 127) / 128 * 128 ))
inner=$((total - 2))
disk "$img" $inner 1; attach "$img" 1 $inner
mkfs.ext4 -q -F -b 4096 "$dev"
if [ "$mode" = kata ]; then tune2fs -m 3 "$dev" > /dev/null; fi
mount "$dev" "$mnt"; cp -a "$rootfs"/. "$mnt"/
if [ "$mode" = kata ]; then sync; fi
umount "$mnt"
if [ "$mode" = kata ]; then fsck.ext4 -D -y "$dev" > /dev/null 2>&1 || [ $? -le 1 ]; fi
detach
if [ "$mode" = kata ]; then
  disk "$img.header" $total 3
  printf 'NVDIMM_PFN_INFO\0' | dd of="$img.header" bs=4096 seek=1 conv=notrunc status=none
  sync
  dd if="$img.header" of="$img.dax" bs=2M count=1 status=none
  dd if="$img" of="$img.dax" oflag=append conv=notrunc status=none
  mv "$img.dax" "$img"; sync; rm -f "$img.header"
fi
`;

export async function benchImage(rootfs: string, runs: number): Promise<BenchRow[]> {
  return inTempDir('image', async (work) => {
    const out = (name: string) => join(work, name);
    const classic = (mode: string, file: string) => `sh -c ${q(CLASSIC_SH)} classic ${q(out(file))} ${q(rootfs)} ${mode}`;
    const osb = (file: string, args = '') => `${OSB} --rootfs-dir ${q(rootfs)} --workdir ${q(work)} --image-name ${file} ${args} > /dev/null`;
    const kata = measure(runs, classic('kata', 'kata.img'), out('kata.img'));
    const bare = measure(runs, classic('classic', 'classic.img'), out('classic.img'));
    const osbDax = measure(runs, osb('osb.img'), out('osb.img'));
    const osbPlain = measure(runs, osb('osb-nodax.img', '--no-dax'), out('osb-nodax.img'));
    const osbErofs = measure(runs, osb('osb-erofs.img', '--fs-type erofs'), out('osb-erofs.img'));
    const size = (m: Measured, base: Measured) => `image ${mib(m.bytes)} vs ${mib(base.bytes)} (${(m.bytes / base.bytes).toFixed(2)}x)`;
    return [
      { name: "Kata image_builder.sh steps (ext4, DAX header)", median: kata.median, runs, extra: `image ${mib(kata.bytes)}` },
      { name: 'osb image (ext4, DAX header: the default)', median: osbDax.median, runs, baseline: 'Kata steps', baselineMedian: kata.median, goal: '<= 0.4x, image <= Kata', extra: size(osbDax, kata) },
      { name: 'osb image --no-dax', median: osbPlain.median, runs, baseline: 'bare classic loop-mount steps', baselineMedian: bare.median, extra: size(osbPlain, bare) },
      { name: 'osb image --fs-type erofs (lz4hc)', median: osbErofs.median, runs, baseline: 'Kata steps (ext4)', baselineMedian: kata.median, extra: size(osbErofs, kata) },
    ];
  });
}

await runAsScript(import.meta.url, benchImage);
