/**
 * The target graph with small real targets: each one runs a real command (cp, sh) through
 * lib/run.ts and writes a real file, so what is checked is what a user sees on disk.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from '../../lib/atomic.js';
import { silentReporter } from '../../lib/log.js';
import { resolveSettings } from '../../tasks/cli/parse.js';
import { execute, makeContext, printDryRun } from '../../tasks/engine/execute.js';
import { computePlan } from '../../tasks/engine/plan.js';
import type { Settings } from '../../tasks/settings/table.js';
import type { Target } from '../../tasks/engine/target.js';

let dir: string;
let log: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-graph-'));
  log = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function settings(over: Record<string, unknown> = {}): Settings {
  return { ...resolveSettings({}, {}), workdir: dir, jobs: 1, ...over } as Settings;
}

/** A target that copies its input file (or its dependency's output) plus a setting into its output. */
function fileTarget(name: string, deps: string[], opts: { fail?: boolean; sleep?: number; input?: string } = {}): Target {
  return {
    name,
    summary: name,
    deps: () => deps,
    settings: ['distro'],
    files: () => (opts.input ? [opts.input] : []),
    outputs: (s) => [join(s.workdir, `${name}.out`)],
    run: async (ctx, s) => {
      log.push(`start ${name} ${Date.now()}`);
      if (opts.sleep) await ctx.run(['sleep', String(opts.sleep)]);
      if (opts.fail) await ctx.run(['sh', '-c', `echo "${name} is broken" >&2; exit 3`]);
      if (ctx.dryRun) return;
      const src = opts.input ?? (deps[0] ? join(s.workdir, `${deps[0]}.out`) : undefined);
      await writeAtomic(join(s.workdir, `${name}.out`), async (tmp) => {
        if (src) await ctx.run(['cp', src, tmp]);
        else writeFileSync(tmp, '');
        writeFileSync(tmp, `${readFileSync(tmp, 'utf8')}${name}:${String(s.distro)}\n`);
      });
      log.push(`end ${name} ${Date.now()}`);
    },
  };
}

function table(...ts: Target[]): Map<string, Target> {
  return new Map(ts.map((t) => [t.name, t]));
}

async function build(t: Map<string, Target>, requested: string[], s: Settings, force = false) {
  const ctx = makeContext({ ...s, dryRun: true }, silentReporter);
  const steps = await computePlan(t, requested, s, ctx, { force, noDeps: !s.deps });
  if (s.dryRun) {
    const out: string[] = [];
    await printDryRun(steps, { settings: s, out: { write: (x: string) => out.push(x) } as unknown as NodeJS.WritableStream });
    return { steps, out: out.join('') };
  }
  await execute(steps, { settings: s, out: { write: () => true } as unknown as NodeJS.WritableStream });
  return { steps, out: '' };
}

const started = () => log.filter((l) => l.startsWith('start')).map((l) => l.split(' ')[1]);

describe('target graph', () => {
  test('builds dependencies first, then skips everything when up to date', async () => {
    const input = join(dir, 'agent.bin');
    writeFileSync(input, 'v1');
    const t = table(fileTarget('base', [], { input }), fileTarget('mid', ['base']), fileTarget('top', ['mid']));
    await build(t, ['top'], settings());
    expect(started()).toEqual(['base', 'mid', 'top']);
    expect(readFileSync(join(dir, 'top.out'), 'utf8')).toBe('v1base:debian\nmid:debian\ntop:debian\n');
    log = [];
    const { steps } = await build(t, ['top'], settings());
    expect(started()).toEqual([]);
    expect(steps.map((s) => s.action)).toEqual(['skip', 'skip', 'skip']);
  });

  test('a tree a target reads, changed by hand, rebuilds it and what is made of it; the tree\'s maker and an untouched tree do not', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc/a'), 'a');
    const maker = fileTarget('maker', []);
    const reader = { ...fileTarget('reader', ['maker']), trees: () => [tree] };
    const t = table(maker, reader, fileTarget('made', ['reader']));
    await build(t, ['made'], settings());
    log = [];
    expect((await build(t, ['made'], settings())).steps.map((x) => x.action)).toEqual(['skip', 'skip', 'skip']);
    writeFileSync(join(tree, 'etc/b'), 'added by hand');
    const { steps } = await build(t, ['made'], settings());
    expect(started()).toEqual(['reader', 'made']);
    expect(steps[1]!.reasons).toEqual(['tree changed since it was built (an entry written, added, removed, or its mode or owner set)']);
    expect(steps[2]!.reasons).toEqual(['reader, which it is made of, is built in this run']);
    log = [];
    expect((await build(t, ['made'], settings())).steps.map((x) => x.action)).toEqual(['skip', 'skip', 'skip']);
    // The tree's maker built again (same inputs, new tree): what reads it is built after it.
    rmSync(join(dir, 'maker.out'));
    const again = await build(t, ['made'], settings());
    expect(started()).toEqual(['maker', 'reader', 'made']);
    expect(again.steps[1]!.reasons).toEqual(['maker, whose tree it reads, is built in this run']);
  });

  test('a changed setting or input file rebuilds, and the plan names the input', async () => {
    const input = join(dir, 'agent.bin');
    writeFileSync(input, 'v1');
    const t = table(fileTarget('base', [], { input }), fileTarget('top', ['base']));
    await build(t, ['top'], settings());
    log = [];
    const changedSetting = await build(t, ['top'], settings({ distro: 'ubuntu' }));
    expect(started()).toEqual(['base', 'top']);
    expect(changedSetting.steps[0]!.reasons).toContain('input changed: setting distro: debian (default) -> ubuntu (default)');
    expect(readFileSync(join(dir, 'top.out'), 'utf8')).toContain('top:ubuntu');

    log = [];
    writeFileSync(input, 'v2');
    const changedFile = await build(t, ['top'], settings({ distro: 'ubuntu' }));
    expect(changedFile.steps[0]!.reasons).toEqual([`input changed: file ${input}`]);
    expect(changedFile.steps[1]!.reasons).toEqual(['input changed: target base']);
    expect(readFileSync(join(dir, 'top.out'), 'utf8')).toMatch(/^v2/);
  });

  test('--force rebuilds the named target only; a missing output rebuilds', async () => {
    const t = table(fileTarget('base', []), fileTarget('top', ['base']));
    await build(t, ['top'], settings());
    log = [];
    await build(t, ['top'], settings(), true);
    expect(started()).toEqual(['top']);
    rmSync(join(dir, 'base.out'));
    log = [];
    const { steps } = await build(t, ['top'], settings());
    expect(steps[0]!.reasons).toEqual([`output missing: ${join(dir, 'base.out')}`]);
    expect(started()).toEqual(['base']); // same inputs, same output: top stays up to date
  });

  test('--dry-run prints the plan and commands and leaves the filesystem unchanged', async () => {
    const t = table(fileTarget('base', [], { sleep: 1 }), fileTarget('top', ['base']));
    const before = readdirSync(dir);
    const { out } = await build(t, ['top'], settings({ dryRun: true }));
    expect(out).toContain('base: would build (output missing');
    expect(out).toContain('would run: sleep 1');
    expect(readdirSync(dir)).toEqual(before);
  });

  test('a failing target stops its dependants and the error names it', async () => {
    const t = table(fileTarget('base', [], { fail: true }), fileTarget('top', ['base']), fileTarget('other', []));
    const err = await build(t, ['top', 'other'], settings()).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^base failed: command exited with code 3: sh -c/);
    expect((err as { cause?: { tail?: string[] } }).cause?.tail).toContain('base is broken');
    expect(existsSync(join(dir, 'top.out'))).toBe(false);
    expect(started()).not.toContain('top');
    expect(readFileSync(join(dir, 'logs', 'base.log'), 'utf8')).toContain('base is broken');
  });

  test('independent targets overlap with -j 2 and not with -j 1', async () => {
    const t = table(fileTarget('a', [], { sleep: 1 }), fileTarget('b', [], { sleep: 1 }));
    const span = () => {
      const at = (w: string) => Number(log.find((l) => l.startsWith(w))!.split(' ')[2]);
      return { overlap: at('start b') < at('end a') && at('start a') < at('end b') };
    };
    await build(t, ['a', 'b'], settings({ jobs: 2 }));
    expect(span().overlap).toBe(true);
    log = [];
    await build(t, ['a', 'b'], settings({ jobs: 1 }), true);
    expect(span().overlap).toBe(false);
  });

  test('--log-format ndjson: one JSON event per line, with durations', async () => {
    const t = table(fileTarget('base', []), fileTarget('top', ['base'], { fail: true }));
    const s = settings({ logFormat: 'ndjson' });
    const ctx = makeContext({ ...s, dryRun: true }, silentReporter);
    const lines: string[] = [];
    const out = { write: (x: string) => lines.push(...x.trim().split('\n')) } as unknown as NodeJS.WritableStream;
    await build(t, ['base'], s);
    const steps = await computePlan(t, ['top'], s, ctx, { force: false, noDeps: false });
    await expect(execute(steps, { settings: s, out })).rejects.toThrow(/top failed/);
    const events = lines.map((l) => JSON.parse(l) as { event: string; target: string; ms?: number });
    expect(events.map((e) => `${e.event} ${e.target}`)).toEqual(['skip base', 'start top', 'fail top']);
    expect(events[2]!.ms).toEqual(expect.any(Number));
  });

  test('--no-deps fails clearly when a dependency output is missing', async () => {
    const t = table(fileTarget('base', []), fileTarget('top', ['base']));
    const err = await build(t, ['top'], settings({ deps: false })).catch((e: Error) => e);
    expect((err as Error).message).toBe(`top needs base, which is missing (${join(dir, 'base.out')})`);
    expect(existsSync(join(dir, 'top.out'))).toBe(false);
  });

  test('state is written only after success: a failed rebuild keeps the old output and rebuilds next time', async () => {
    let fail = false;
    const base = fileTarget('base', []);
    const flaky: Target = { ...base, run: async (ctx, s, h) => (fail ? ctx.run(['false']).then(() => {}) : base.run(ctx, s, h)) };
    const t = table(flaky);
    await build(t, ['base'], settings());
    const mtime = statSync(join(dir, 'base.out')).mtimeMs;
    fail = true;
    await expect(build(t, ['base'], settings({ distro: 'ubuntu' }))).rejects.toThrow(/base failed/);
    expect(statSync(join(dir, 'base.out')).mtimeMs).toBe(mtime);
    fail = false;
    const { steps } = await build(t, ['base'], settings({ distro: 'ubuntu' }));
    expect(steps[0]!.action).toBe('build');
  });
});
