/**
 * Interrupting a build: Ctrl-C (SIGINT) and kill -9 while a target runs never leave an
 * incomplete output under its final name, and the next run rebuilds the target.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { cleanEnv, osb, OSB } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';

jest.setTimeout(10 * 60_000);
let wd: string;
let hook: string;
const marker = () => join(wd, 'hook-started');
const args = () => ['rootfs', '--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--agent-init'];

beforeAll(() => {
  wd = mkdtempSync(join(tmpdir(), 'osb-interrupt-'));
  hook = join(wd, 'slow-hook.sh');
  // The hook runs after the bootstrap, inside the build: the worst moment to be interrupted.
  writeFileSync(hook, `#!/bin/sh\ntouch ${join(wd, 'hook-started')}\nsleep 120\n`);
  chmodSync(hook, 0o755);
});
afterAll(() => rmSync(wd, { recursive: true, force: true }));

async function interruptDuringHook(signal: 'SIGINT' | 'SIGKILL'): Promise<number | null> {
  rmSync(marker(), { force: true });
  const child = spawn(process.execPath, [OSB, ...args(), '--hook', hook], { env: cleanEnv(), stdio: 'ignore', detached: true });
  for (let i = 0; i < 3000 && !existsSync(marker()); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(marker())).toBe(true);
  // SIGINT goes to osb alone (as a terminal's Ctrl-C would reach it); SIGKILL takes the whole group.
  if (signal === 'SIGINT') process.kill(child.pid!, 'SIGINT');
  else process.kill(-child.pid!, 'SIGKILL');
  return new Promise((r) => child.on('exit', (code) => r(code)));
}

describe('interrupting osb rootfs', () => {
  test('SIGINT: exit 130, no rootfs under its final name, nothing staged left behind', async () => {
    const code = await interruptDuringHook('SIGINT');
    expect(code).toBe(130);
    expect(existsSync(join(wd, 'rootfs'))).toBe(false);
    expect(existsSync(join(wd, 'rootfs.manifest.json'))).toBe(false);
    expect(readdirSync(wd).filter((n) => /\.osb-(stage|tmp|old)-/.test(n))).toEqual([]);
  });

  test('SIGKILL: no rootfs under its final name; the next run rebuilds and clears the leftovers', async () => {
    await interruptDuringHook('SIGKILL');
    expect(existsSync(join(wd, 'rootfs'))).toBe(false);
    // The workdir remembers the interrupted command's hook: this run says it has none.
    const r = osb([...args(), '--hook=']);
    expect(r.code).toBe(0);
    expect(existsSync(join(wd, 'rootfs/sbin/init'))).toBe(true);
    expect(readdirSync(wd).filter((n) => n.includes('.osb-stage'))).toEqual([]);
  });
});
