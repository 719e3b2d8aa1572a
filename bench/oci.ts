/**
 * osb oci and osb squashfs against the plain tools, in the same run on the same Debian rootfs.
 *   npm run bench -- oci squashfs
 * Goals (issue 13): `osb oci` at most 1.0x the time of `tar --sort=name ... | gzip` plus
 * `sha256sum`; `osb squashfs` at most 1.05x plain mksquashfs with the same compressor.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, timeShell, OSB, type BenchRow } from './lib.js';

const SDE = 1_700_000_000;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Time several commands round-robin (one run of each per round), so load from other work on the
 * machine falls on all of them alike, and return each one's median.
 */
function interleaved(runs: number, cmds: readonly { cmd: string; before?: () => void }[], env: NodeJS.ProcessEnv): { median: number; pairedRatio: number }[] {
  const times: number[][] = cmds.map(() => []);
  for (let i = 0; i < runs; i++) {
    cmds.forEach((c, j) => {
      c.before?.();
      times[j]!.push(timeShell(c.cmd, { env }).seconds);
    });
  }
  // The median of each round's ratio to the first command: steadier than a ratio of medians
  // when other work comes and goes on a shared machine.
  return times.map((t) => ({ median: median(t), pairedRatio: median(t.map((x, i) => x / times[0]![i]!)) }));
}

const paired = (r: { pairedRatio: number }) => `median of per-round ratios ${r.pairedRatio.toFixed(3)}x`;
type Timed = { median: number; pairedRatio: number };

/** GNU tar's reproducible layer (OCI-NOTES.md section 5), as a shell pipeline. */
const plainTar = (rootfs: string) =>
  `tar --sort=name --mtime=@${SDE} --clamp-mtime --numeric-owner --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime --xattrs -C ${q(rootfs)} -cf - .`;

export function benchOci(rootfs: string, runs: number): BenchRow[] {
  const work = mkdtempSync(join(tmpdir(), 'osb-bench-oci-'));
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(SDE) };
  try {
    const layer = join(work, 'layer.tar.gz');
    const wd = (c: string) => `--no-deps --force --rootfs-dir ${q(rootfs)} --workdir ${q(join(work, c))}`;
    const [plain, gz, zs] = interleaved(
      runs,
      [
        { cmd: `${plainTar(rootfs)} | gzip -n > ${q(layer)} && sha256sum ${q(layer)} > /dev/null`, before: () => rmSync(layer, { force: true }) },
        { cmd: `${OSB} oci ${wd('gzip')} > /dev/null` },
        { cmd: `${OSB} oci ${wd('zstd')} --oci-compression zstd > /dev/null` },
      ],
      env,
    ) as [Timed, Timed, Timed];
    const plainBytes = statSync(layer).size;
    const gzBytes = statSync(join(work, 'gzip', 'osb-oci.tar')).size;
    const zsBytes = statSync(join(work, 'zstd', 'osb-oci.tar')).size;
    return [
      { name: 'tar --sort=name ... | gzip -n + sha256sum', median: plain.median, runs, extra: `layer ${mb(plainBytes)}` },
      { name: 'osb oci (gzip layer, layout + oci-archive)', median: gz.median, runs, baseline: 'tar | gzip + sha256sum', baselineMedian: plain.median, goal: '<= 1.0x', extra: `oci-archive ${mb(gzBytes)}, ${paired(gz)}` },
      { name: 'osb oci --oci-compression zstd', median: zs.median, runs, baseline: 'tar | gzip + sha256sum', baselineMedian: plain.median, extra: `oci-archive ${mb(zsBytes)}, ${paired(zs)}` },
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function benchSquashfs(rootfs: string, runs: number): BenchRow[] {
  const work = mkdtempSync(join(tmpdir(), 'osb-bench-squashfs-'));
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(SDE) };
  try {
    const out = join(work, 'plain.squashfs');
    const wd = join(work, 'wd');
    const [plain, o] = interleaved(
      runs,
      [
        { cmd: `mksquashfs ${q(rootfs)} ${q(out)} -noappend -comp zstd -no-progress -quiet > /dev/null`, before: () => rmSync(out, { force: true }) },
        { cmd: `${OSB} squashfs --no-deps --force --rootfs-dir ${q(rootfs)} --workdir ${q(wd)} > /dev/null` },
      ],
      env,
    ) as [Timed, Timed];
    const plainBytes = statSync(out).size;
    return [
      { name: 'mksquashfs -comp zstd', median: plain.median, runs, extra: `size ${mb(plainBytes)}` },
      { name: 'osb squashfs (zstd, with its boot initrd)', median: o.median, runs, baseline: 'mksquashfs', baselineMedian: plain.median, goal: '<= 1.05x', extra: `size ${mb(statSync(join(wd, 'osb.squashfs')).size)}, ${paired(o)}` },
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
