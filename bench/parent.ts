/**
 * osb rootfs on a parent image against GNU tar unpacking the same layer, in the same run on the
 * same Debian rootfs:
 *   npm run bench -- parent
 * osb reads the layer with its own checked extractor (nothing written through a symlink), then
 * records the tree's state for the child's layer; GNU tar only unpacks, trusting the archive.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, timeShell, OSB, type BenchRow } from './lib.js';

const SDE = 1_700_000_000;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function benchParent(rootfs: string, runs: number): BenchRow[] {
  const work = mkdtempSync(join(tmpdir(), 'osb-bench-parent-'));
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(SDE) };
  try {
    timeShell(`${OSB} oci --no-deps --rootfs-dir ${q(rootfs)} --workdir ${q(join(work, 'base'))} --no-docker-archive > /dev/null`, { env });
    const layout = join(work, 'base', 'osb-oci');
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = (d: string) => join(layout, 'blobs', d.replace(':', '/'));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
    const layer = blob(manifest.layers[0]!.digest);
    const out = join(work, 'tar');
    const osbTimes: number[] = [];
    const warmTimes: number[] = [];
    const tarTimes: number[] = [];
    const child = join(work, 'child');
    const osb = `${OSB} rootfs --force --parent oci:${q(layout)} --agent-init --workdir ${q(child)} > /dev/null`;
    for (let i = 0; i < runs; i++) {
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out);
      tarTimes.push(timeShell(`tar -xzf ${q(layer)} -C ${q(out)} --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*'`, { env }).seconds);
      // Cold: the parent is not in the cache yet, so it is unpacked and checked.
      rmSync(join(child, 'cache', 'base'), { recursive: true, force: true });
      osbTimes.push(timeShell(osb, { env }).seconds);
      // Warm: the parent unpacked by the build before, copied from the cache.
      warmTimes.push(timeShell(osb, { env }).seconds);
    }
    return [
      { name: 'osb rootfs --parent oci:DIR --agent-init (checked unpack, agent, tree state)', median: median(osbTimes), runs, baseline: 'GNU tar -xzf of the same layer', baselineMedian: median(tarTimes) },
      { name: 'osb rootfs --parent oci:DIR --agent-init again (the parent from the cache)', median: median(warmTimes), runs, baseline: 'GNU tar -xzf of the same layer', baselineMedian: median(tarTimes) },
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
