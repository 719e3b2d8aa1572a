/**
 * Benchmark helpers: time whole commands several times, report the median, and compare with a
 * baseline measured in the same run. Benchmarks are not tests: they print, they never assert.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * osb as users run it: the bin (`npx osb` runs dist/tasks/main.cjs as a program; its first line
 * is a shell line that execs `node`, lib/extra-ca.ts), with the Node running the bench first on
 * PATH so that it is the one the bin finds. OSB_VIA_NODE runs the same file as `node main.cjs`.
 */
export const OSB = join(dirname(fileURLToPath(import.meta.url)), '..', 'tasks', 'main.cjs');
export const OSB_VIA_NODE = `${process.execPath} ${OSB}`;
process.env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;

export interface Sample {
  readonly seconds: number;
  /** Peak resident memory in KiB (from GNU time), when measured. */
  readonly maxRssKiB?: number;
}

export interface BenchRow {
  readonly name: string;
  readonly median: number;
  readonly runs: number;
  readonly baseline?: string;
  readonly baselineMedian?: number;
  readonly goal?: string;
  readonly extra?: string;
  /** A size row: `value` in `unit` (and `baselineValue`) instead of seconds. */
  readonly unit?: string;
  readonly value?: number;
  readonly baselineValue?: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Run a shell command line once (benchmarks compare against shell pipelines), measuring time and peak RSS. */
export function timeShell(cmd: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Sample {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'sh', '-c', cmd], { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${cmd}\n${r.stderr.slice(-2000)}`);
  const rss = Number(r.stderr.trim().split('\n').pop());
  return { seconds, maxRssKiB: Number.isFinite(rss) ? rss : undefined };
}

/** Time `cmd` `runs` times, running `before` (untimed) ahead of each run. */
export function medianOf(runs: number, cmd: string, before?: () => void, opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): { median: number; maxRssKiB?: number } {
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    before?.();
    samples.push(timeShell(cmd, opts));
  }
  const rss = samples.map((s) => s.maxRssKiB ?? 0);
  return { median: median(samples.map((s) => s.seconds)), maxRssKiB: Math.max(...rss) || undefined };
}

/** The median time of a command that writes a file, its peak memory and the size of the file. */
export interface Measured {
  readonly median: number;
  readonly maxRssKiB?: number;
  readonly bytes: number;
  /** Each run's seconds, in order (from measureInterleaved: run i of every contender is round i). */
  readonly seconds?: readonly number[];
}

/** The median of `a`'s time over `b`'s, round by round (`a[i]` and `b[i]` ran in the same round): a slow spell of the machine falls on both of a round. */
export function perRoundRatio(a: readonly number[], b: readonly number[]): string {
  return `median of per-round ratios ${median(a.map((x, i) => x / b[i]!)).toFixed(3)}x`;
}

/** Time `cmd`, which writes `out`, `runs` times, `out` removed before each (from `cwd`). */
export function measure(runs: number, cmd: string, out: string, cwd?: string): Measured {
  const m = medianOf(runs, cmd, () => rmSync(out, { force: true }), { cwd });
  return { median: m.median, maxRssKiB: m.maxRssKiB, bytes: statSync(out).size };
}

/** Run `body` in a new directory under the system's temp (`osb-bench-NAME-…`), removed after, whatever happens. */
export async function inTempDir<T>(name: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `osb-bench-${name}-`));
  try {
    return await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A benchmark file run on its own (`node dist/bench/NAME.js [RUNS]`, what `moduleUrl` is then):
 * `bench` on the benchmark's Debian tree, RUNS times (3 by default), a line a row. Imported
 * (by run.ts), it does nothing.
 */
export async function runAsScript(moduleUrl: string, bench: (rootfs: string, runs: number) => Promise<BenchRow[]>): Promise<void> {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const { debianRootfs } = await import('./debian-rootfs.js');
  const runs = Number(process.argv[2] ?? 3);
  for (const row of await bench(debianRootfs(), runs)) console.log(formatRow(row));
}

export function formatRow(r: BenchRow): string {
  if (r.unit && r.value !== undefined) {
    const ratio = r.baselineValue ? ` | ${(r.value / r.baselineValue).toFixed(3)}x of ${r.baseline} (${r.baselineValue.toFixed(1)} ${r.unit})` : '';
    return `${r.name}: ${r.value.toFixed(1)} ${r.unit}${ratio}${r.goal ? ` | goal ${r.goal}` : ''}${r.extra ? ` | ${r.extra}` : ''}`;
  }
  const ratio = r.baselineMedian ? ` | ${(r.median / r.baselineMedian).toFixed(3)}x of ${r.baseline} (${r.baselineMedian.toFixed(3)} s)` : '';
  return `${r.name}: median ${r.median.toFixed(3)} s over ${r.runs} runs${ratio}${r.goal ? ` | goal ${r.goal}` : ''}${r.extra ? ` | ${r.extra}` : ''}`;
}

/** One command of an interleaved measurement: it writes `out` (removed before each run), from `cwd`. */
export interface Contender {
  readonly cmd: string;
  readonly out: string;
  readonly cwd?: string;
}

/**
 * Time each contender `runs` times, taking turns (a, b, c, a, b, c, ...), so a slow spell of the
 * machine falls on all of them alike; each one's median, peak memory and output size.
 */
export function measureInterleaved(runs: number, contenders: readonly Contender[]): Measured[] {
  const samples: Sample[][] = contenders.map(() => []);
  for (let i = 0; i < runs; i++) {
    contenders.forEach((c, j) => {
      rmSync(c.out, { force: true });
      samples[j]!.push(timeShell(c.cmd, { cwd: c.cwd }));
    });
  }
  return contenders.map((c, j) => ({
    median: median(samples[j]!.map((s) => s.seconds)),
    maxRssKiB: Math.max(...samples[j]!.map((s) => s.maxRssKiB ?? 0)) || undefined,
    bytes: statSync(c.out).size,
    seconds: samples[j]!.map((s) => s.seconds),
  }));
}
