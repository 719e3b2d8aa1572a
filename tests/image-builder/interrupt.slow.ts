/**
 * Killed mid-build. SIGKILL in the middle of mkfs (nothing in the process can react): no file
 * under the final name, no loop device, and the next run cleans up and succeeds. SIGINT while
 * xfs is being filled through its loop mount: the mount and the loop device are released.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage } from '../../image-builder/index.js';
import { debianRootfs } from '../helpers/debian-rootfs.js';
import { isRoot } from '../helpers/fixture-rootfs.js';
import { compiledImageBuilder, KILL_DRIVER, leftovers, loopDevices, makeCtx, options, removeTempDirs, tempDir } from './helpers.js';

let COMPILED: string;
let rootfs: string;
beforeAll(() => {
  rootfs = debianRootfs();
  COMPILED = compiledImageBuilder();
}, 300_000);
afterAll(removeTempDirs);

/** Children of `pid` whose command name is `comm`, from /proc. */
function children(pid: number, comm: string): number[] {
  const found: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (m && m[1] === comm && Number(m[2]) === pid) found.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

test('kill -9 during mkfs.ext4: nothing under the final name, no loop device, and a rerun succeeds', async () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  mkdirSync(out);
  const output = join(out, 'osb.img');
  const loopsBefore = loopDevices();
  const child = spawn(process.execPath, [KILL_DRIVER, COMPILED, rootfs, output], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (_code, sig) => r(sig === 'SIGKILL' ? 137 : _code)));
  let mkfs: number[] = [];
  for (let i = 0; i < 1000 && mkfs.length === 0; i++) {
    mkfs = children(child.pid!, 'mkfs.ext4');
    if (!mkfs.length) await sleep(10);
  }
  expect(mkfs.length).toBe(1);
  child.kill('SIGKILL');
  expect(await exited).toBe(137);

  expect(existsSync(output)).toBe(false);
  expect(loopDevices()).toEqual(loopsBefore);
  // The orphaned mkfs writes to the temporary file only; let it finish before the rerun.
  while (existsSync(`/proc/${mkfs[0]}`)) await sleep(50);
  expect(leftovers(out).some((n) => n.startsWith('.osb.img.osb-'))).toBe(true);

  const r = await buildImage(makeCtx(out), options(rootfs, output, { dax: true, seed: 'dead' }));
  expect(r.path).toBe(output);
  expect(leftovers(out)).toEqual(['osb.img']);
  expect(loopDevices()).toEqual(loopsBefore);
}, 120_000);

/** Mount points under the temporary directory that osb's xfs fill uses. */
function xfsMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => / \S*osb-xfs-\S* /.test(l));
}

(isRoot ? test : test.skip)('SIGINT while xfs is filled through a loop mount: exit 130, mount and loop device released, nothing left', async () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  mkdirSync(out);
  const output = join(out, 'osb.img');
  const loopsBefore = loopDevices();
  const child = spawn(process.execPath, [KILL_DRIVER, COMPILED, rootfs, output, 'xfs'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let cp: number[] = [];
  for (let i = 0; i < 3000 && cp.length === 0; i++) {
    cp = children(child.pid!, 'cp');
    if (!cp.length) await sleep(10);
  }
  expect(cp.length).toBe(1);
  expect(xfsMounts()).toHaveLength(1);
  expect(loopDevices().length).toBe(loopsBefore.length + 1);
  child.kill('SIGINT');
  expect(await exited).toBe(130);
  expect(existsSync(output)).toBe(false);
  expect(xfsMounts()).toEqual([]);
  expect(loopDevices()).toEqual(loopsBefore);
  expect(leftovers(out)).toEqual([]);
}, 120_000);
