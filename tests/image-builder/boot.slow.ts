/**
 * The images boot: the guest kernel finds the PFN info block and maps the DAX image as an nvdimm
 * (root=/dev/pmem0p1, mounted with dax), reads the header's MBR over virtio-blk, and mounts ext4,
 * erofs and xfs roots, with osb's guest kernel (built by `osb kernel` into the test cache when
 * it is missing or out of date, so these boots never silently turn into skips).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type ImageOptions } from '../../image-builder/index.js';
import { guestKernel } from '../helpers/guest-kernel.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { makeCtx, options, removeTempDirs, tempDir } from './helpers.js';

let KERNEL: string;
beforeAll(() => {
  KERNEL = guestKernel();
}, 45 * 60_000);

/** Boot until the agent has run its command; returns the console. qemu is killed afterwards either way. */
function boot(args: string[], append: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const qemu = spawn('qemu-system-x86_64', ['-nographic', '-no-reboot', '-kernel', KERNEL, ...args, '-append', `console=ttyS0 panic=-1 ${append} osb.cmd=cat,/proc/mounts`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      qemu.kill('SIGKILL');
      if (err) reject(err);
      else resolve(out);
    };
    const timer = setTimeout(() => done(new Error(`no agent exit line within 90 s:\n${out.slice(-3000)}`)), 90_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/osb-agent: exit status=\d+/.test(out)) done();
      else if (/Kernel panic/.test(out)) done(new Error(`kernel panic:\n${out.slice(-3000)}`));
    };
    qemu.stdout.on('data', onData);
    qemu.stderr.on('data', onData);
    qemu.on('error', (e) => done(e));
  });
}

let dir: string;
let rootfs: string;
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

let n = 0;
async function image(o: Partial<ImageOptions>): Promise<string> {
  const out = join(dir, `img${n++}`);
  mkdirSync(out);
  return (await buildImage(makeCtx(out), options(rootfs, join(out, 'osb.img'), o))).path;
}

const virtio = (img: string) => ['-m', '256', '-drive', `file=${img},format=raw,if=virtio,readonly=on`];

describe('boot under qemu', () => {
  test.each(['mbr', 'gpt'] as const)('DAX image (%s inside) as an nvdimm: pmem0p1 through the PFN device, mounted with dax', async (table) => {
    const img = await image({ dax: true, partitionTable: table });
    const size = statSync(img).size;
    const out = await boot(
      ['-machine', 'pc,nvdimm=on', '-m', '256M,slots=2,maxmem=1G', '-object', `memory-backend-file,id=mem0,mem-path=${img},size=${size},readonly=on`, '-device', 'nvdimm,id=nv0,memdev=mem0,unarmed=on'],
      'root=/dev/pmem0p1 rootflags=dax,data=ordered,errors=remount-ro ro rootfstype=ext4',
    );
    expect(out).toMatch(/pfn\d+\.\d+/); // nd_pfn accepted the info block
    expect(out).toMatch(/\/dev\/root \/ ext4 ro\S*dax=always/);
  }, 120_000);

  test('the same DAX image over virtio-blk: the header MBR leads to the partition at 3 MiB', async () => {
    const img = await image({ dax: true });
    const out = await boot(virtio(img), 'root=/dev/vda1 ro rootfstype=ext4');
    expect(out).toMatch(/\/dev\/root \/ ext4 ro/);
  }, 120_000);

  test('erofs on GPT over virtio-blk', async () => {
    const img = await image({ fsType: 'erofs', partitionTable: 'gpt' });
    const out = await boot(virtio(img), 'root=/dev/vda1 ro rootfstype=erofs');
    expect(out).toMatch(/\/dev\/root \/ erofs ro/);
  }, 120_000);

  (isRoot ? test : test.skip)('xfs over virtio-blk', async () => {
    const img = await image({ fsType: 'xfs' });
    const out = await boot(virtio(img), 'root=/dev/vda1 ro rootfstype=xfs');
    expect(out).toMatch(/\/dev\/root \/ xfs ro/);
  }, 120_000);
});
