/**
 * One writer per workdir: a second osb waits for the first (or, with --no-wait, exits naming it),
 * a holder killed with SIGKILL blocks nobody, read-only commands take no lock, and two workdirs
 * build side by side.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleTemps } from '../../lib/atomic.js';
import { sha256File } from '../../lib/hash.js';
import { cleanEnv, errorLine, osb, OSB } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

jest.setTimeout(120_000);
let dir: string;
let fixture: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-lock-'));
  fixture = makeFixtureRootfs(join(dir, 'fixture'), { specials: false });
  // Incompressible data under xz keeps the first command busy for a few seconds.
  writeFileSync(join(fixture, 'var/lib/data/noise'), noise(6 << 20));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function noise(n: number): Buffer {
  // A fixed pseudo-random sequence (xorshift), so every run archives the same bytes.
  const b = Buffer.alloc(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const initrdArgs = (wd: string, ...more: string[]) => ['initrd', '--no-deps', '--rootfs-dir', fixture, '--agent-init', '--compression', 'xz', '--workdir', wd, ...more];

interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}
function start(args: string[]): Running {
  const child = spawn(process.execPath, [OSB, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => child.on('exit', (code) => r({ code, stdout, stderr })));
  return { child, done };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}
const lockOf = (wd: string) => join(wd, '.osb', 'lock');

describe('one writer per workdir', () => {
  test('two commands started together: the second waits, both succeed, and the result equals one run', async () => {
    const reference = join(dir, 'reference');
    expect(osb(initrdArgs(reference)).code).toBe(0);
    const wd = join(dir, 'together');
    const a = start(initrdArgs(wd));
    await until(() => existsSync(lockOf(wd)), 'the first lock');
    const b = start(initrdArgs(wd));
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    expect(rb.stderr).toContain(`osb: waiting for osb (pid ${a.child.pid}: osb initrd) in ${wd}\n`);
    // The second found the initrd the first built: nothing was built twice, nothing half.
    expect(rb.stdout).toContain('initrd [SKIPPED: up to date]');
    expect(await sha256File(join(wd, 'osb-initrd.img'))).toBe(await sha256File(join(reference, 'osb-initrd.img')));
    expect(readdirSync(wd).filter((n) => n.includes('.osb-tmp-'))).toEqual([]);
    expect(existsSync(lockOf(wd))).toBe(false);
  });

  test('--no-wait exits 1 at once naming the holder; read-only commands take no lock', async () => {
    const wd = join(dir, 'no-wait');
    const a = start(initrdArgs(wd));
    await until(() => existsSync(lockOf(wd)), 'the lock');
    const r = osb(initrdArgs(wd, '--force', '--no-wait'));
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toBe(`osb: workdir ${wd} is in use by osb (pid ${a.child.pid}: osb initrd)`);
    for (const args of [['config', '--workdir', wd], ['explain', 'initrd', '--no-deps', '--rootfs-dir', fixture, '--workdir', wd], [...initrdArgs(wd), '--dry-run'], ['check-deps', 'initrd', '--workdir', wd, '--compression', 'xz']]) {
      const ro = osb(args);
      expect([args[0], ro.code, ro.stderr.includes('waiting for')]).toEqual([args[0], 0, false]);
    }
    expect(existsSync(lockOf(wd))).toBe(true); // still the first command's
    expect((await a.done).code).toBe(0);
  });

  test('after SIGKILL of the holder, a new command proceeds at once', async () => {
    const wd = join(dir, 'killed');
    const a = start(initrdArgs(wd));
    await until(() => existsSync(lockOf(wd)), 'the lock');
    process.kill(-a.child.pid!, 'SIGKILL');
    await a.done;
    expect(existsSync(lockOf(wd))).toBe(true); // left behind by the dead holder
    const r = osb(initrdArgs(wd, '--no-wait'));
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('waiting for');
    expect(existsSync(join(wd, 'osb-initrd.img'))).toBe(true);
    expect(existsSync(lockOf(wd))).toBe(false);
  });

  test('two different workdirs build in parallel without waiting', async () => {
    const [w1, w2] = [join(dir, 'par-1'), join(dir, 'par-2')];
    const a = start(initrdArgs(w1));
    const b = start(initrdArgs(w2));
    let both = false;
    const watch = setInterval(() => (both ||= existsSync(lockOf(w1)) && existsSync(lockOf(w2))), 10);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    clearInterval(watch);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    expect(both).toBe(true); // both held their locks at the same moment
    expect(ra.stderr + rb.stderr).not.toContain('waiting for');
  });

  test("stale-temp clean-up removes the temps of processes that are gone, never a live one's", async () => {
    const d = join(dir, 'temps');
    mkdirSync(d);
    const live = join(d, `.out.img.osb-tmp-${process.pid}`);
    const dead = join(d, '.out.img.osb-tmp-4194303'); // above any pid_max: no such process
    writeFileSync(live, 'in progress');
    writeFileSync(dead, 'left by a killed run');
    await removeStaleTemps(join(d, 'out.img'));
    expect(readdirSync(d)).toEqual([`.out.img.osb-tmp-${process.pid}`]);
  });
});
