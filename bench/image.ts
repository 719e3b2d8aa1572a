/**
 * osb image against Kata's own image_builder.sh (bench/kata.ts), in the same run on the same
 * rootfs: the slim Debian guest `osb rootfs --distro debian --agent-init` builds.
 *   npx tsc -p tsconfig.build.json && node dist/bench/image.js [RUNS]
 * Rows, each pair taking turns:
 *  - Kata's image_builder.sh (ext4 with the DAX header; and -f erofs) against osb image with its
 *    SBOM and provenance, as `osb rootfs; osb image` makes it.
 *  - osb image --no-dax against a re-implementation of the bare loop-mount method (qemu-img
 *    create + parted + losetup + mkfs.ext4 + mount + cp -a + umount + losetup -d) at the size
 *    Kata's trial loop finds, without its sync, fsck or header: the classic floor.
 *  - From osb's start to its first tool (sfdisk), against `node -e 0` (bench/first-tool.ts).
 * Goals (issue 28): osb image <= 0.5x Kata's script; start to first tool <= 2x node -e 0.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { firstToolTime, nodeStartTime } from './first-tool.js';
import { kataScripts, KATA_COMMIT } from './kata.js';
import { inTempDir, measureInterleaved, runAsScript, OSB, type BenchRow, type Measured } from './lib.js';
import { slimWorkdir } from './slim-rootfs.js';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

/** $1 image, $2 rootfs: the bare loop-mount method. Every loop device and mount it makes is released on exit. */
const CLASSIC_SH = String.raw`
set -eu
img=$1; rootfs=$2
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
mount "$dev" "$mnt"; cp -a "$rootfs"/. "$mnt"/
umount "$mnt"
detach
`;

export async function benchImage(_rootfs: string, runs: number): Promise<BenchRow[]> {
  return inTempDir('image', async (work) => {
    const slim = slimWorkdir(work, OSB);
    const out = (name: string) => join(work, name);
    const kata = kataScripts(work);
    // Every setting each run differs in is given: the workdir remembers what the last one was given.
    const osb = (file: string, args: string) => `${OSB} image ${slim.args} --image-name ${file} ${args} > /dev/null`;
    const [kataExt4, osbDax, kataErofs, osbErofs, bare, osbPlain] = measureInterleaved(runs, [
      { cmd: kata.image(out('kata.img'), slim.rootfs), out: out('kata.img') },
      { cmd: osb('osb.img', '--fs-type ext4 --dax'), out: join(slim.workdir, 'osb.img') },
      { cmd: kata.image(out('kata-erofs.img'), slim.rootfs, 'FS_TYPE=erofs'), out: out('kata-erofs.img') },
      { cmd: osb('osb-erofs.img', '--fs-type erofs --dax'), out: join(slim.workdir, 'osb-erofs.img') },
      { cmd: `sh -c ${q(CLASSIC_SH)} classic ${q(out('classic.img'))} ${q(slim.rootfs)}`, out: out('classic.img') },
      { cmd: osb('osb-nodax.img', '--fs-type ext4 --no-dax'), out: join(slim.workdir, 'osb-nodax.img') },
    ]) as [Measured, Measured, Measured, Measured, Measured, Measured];
    const size = (m: Measured, base: Measured) => `image ${mib(m.bytes)} vs ${mib(base.bytes)} (${(m.bytes / base.bytes).toFixed(2)}x)`;
    const node = nodeStartTime(Math.max(runs, 9));
    const first = firstToolTime(Math.max(runs, 9), [OSB, 'image', ...slim.args.split(' '), '--image-name', 'osb.img', '--fs-type', 'ext4', '--dax'], ['sfdisk', 'mkfs.ext4', 'qemu-img'], () => rmSync(join(slim.workdir, 'osb.img'), { force: true }));
    const kataName = `Kata's image_builder.sh (${KATA_COMMIT.slice(0, 10)})`;
    return [
      { name: `${kataName}, ext4 with DAX header, slim Debian rootfs`, median: kataExt4.median, runs, extra: `image ${mib(kataExt4.bytes)}` },
      { name: 'osb image (ext4, DAX header: the default; with SBOM and provenance)', median: osbDax.median, runs, baseline: kataName, baselineMedian: kataExt4.median, goal: '<= 0.5x, image <= Kata', extra: size(osbDax, kataExt4) },
      { name: 'osb image --fs-type erofs (lz4hc)', median: osbErofs.median, runs, baseline: `${kataName} -f erofs`, baselineMedian: kataErofs.median, extra: size(osbErofs, kataErofs) },
      { name: 'osb image --no-dax', median: osbPlain.median, runs, baseline: 'bare loop-mount steps (re-implemented: no sync, fsck or header)', baselineMedian: bare.median, extra: size(osbPlain, bare) },
      { name: `osb image: start to its first tool (${first.tool})`, median: first.median, runs: Math.max(runs, 9), baseline: 'node -e 0', baselineMedian: node, goal: '<= 2x' },
    ];
  });
}

await runAsScript(import.meta.url, benchImage);
