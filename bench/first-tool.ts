/**
 * From a command's start to the start of its first real tool: the fixed cost osb adds before
 * any work, against Node's own start (`node -e 0`), in the same run.
 *
 * How: the tools the command may start first are put ahead in PATH as tiny wrappers that note
 * the time they start (bash's $EPOCHREALTIME, no extra process) and exec the real tool. The clock
 * starts just before the command is spawned; the wrappers' cost (a bash start) counts against osb.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './lib.js';

const now = () => (performance.timeOrigin + performance.now()) / 1000;

/** Where `tool` is on PATH, or undefined. */
function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  return undefined;
}

export interface FirstTool {
  /** Median seconds from spawn to the first wrapped tool's start. */
  readonly median: number;
  /** The tool that started first (in the last run). */
  readonly tool: string;
}

/**
 * Run `argv` (with `before()` untimed ahead of each run) `runs` times; the median time from its
 * spawn to the first start of any of `tools`.
 */
export function firstToolTime(runs: number, argv: readonly string[], tools: readonly string[], before?: () => void): FirstTool {
  const dir = mkdtempSync(join(tmpdir(), 'osb-bench-first-tool-'));
  try {
    const stamp = join(dir, 'stamp');
    for (const t of tools) {
      const real = which(t);
      if (!real) continue;
      writeFileSync(join(dir, t), `#!/bin/bash\n[ -e ${stamp} ] || echo "$EPOCHREALTIME ${t}" > ${stamp}\nexec ${real} "$@"\n`);
      chmodSync(join(dir, t), 0o755);
    }
    const times: number[] = [];
    let tool = '';
    for (let i = 0; i < runs; i++) {
      before?.();
      rmSync(stamp, { force: true });
      const t0 = now();
      const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${argv.join(' ')}\n${r.stderr.slice(-2000)}`);
      if (!existsSync(stamp)) throw new Error(`none of ${tools.join(', ')} ran: ${argv.join(' ')}`);
      const [at, name] = readFileSync(stamp, 'utf8').trim().split(' ');
      times.push(Number(at) - t0);
      tool = name!;
    }
    return { median: median(times), tool };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Whether this environment sets NODE_EXTRA_CA_CERTS (these machines point it at the system's CA
 * bundle). Node parses that file at its start, before any script, which C and Go tools do not pay;
 * osb's bin defers it to its first TLS connection (lib/extra-ca.ts), `node main.cjs` cannot. The
 * rows against such tools then also run osb the second way, to show what the deferral saves.
 */
export const EXTRA_CA_SET = Boolean(process.env.NODE_EXTRA_CA_CERTS);

/** Median seconds of `node -e 0`, spawned the same way (`withoutExtraCa`: with NODE_EXTRA_CA_CERTS unset). */
export function nodeStartTime(runs: number, withoutExtraCa = false): number {
  const env = { ...process.env };
  if (withoutExtraCa) delete env.NODE_EXTRA_CA_CERTS;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = now();
    spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', env });
    times.push(now() - t0);
  }
  return median(times);
}
