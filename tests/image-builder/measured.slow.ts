/**
 * The measured rootfs boots, as a user runs it: `osb image --measured-rootfs`, then `osb boot
 * --image`, with osb's guest kernel (DM_VERITY + DM_INIT). The kernel sets the verity device up
 * from dm-mod.create= and mounts /dev/dm-0; one flipped byte of a file's data makes the guest's
 * read of it fail, and osb boot says so with the console tail.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';
import { removeTempDirs, sfdiskJson, sh, tempDir } from './helpers.js';

let KERNEL: string;
let dir: string;
let rootfs: string;
beforeAll(() => {
  KERNEL = guestKernel();
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
}, 45 * 60_000);
afterAll(removeTempDirs);

/** Every setting these tests rely on, so a workdir's record of earlier commands cannot change them. */
const imageArgs = (wd: string, fsType: string) => ['image', '--workdir', wd, '--rootfs-dir', rootfs, '--no-deps', '--measured-rootfs', '--fs-type', fsType, '--partition-table', 'mbr', '--format', 'raw'];
const bootArgs = (wd: string, cmd: string) => ['boot', '--image', '--workdir', wd, '--no-deps', '--kernel', KERNEL, '--accel', 'tcg', '--boot-timeout', '90', '--', `osb.cmd=${cmd}`];

describe('measured image under qemu', () => {
  test("osb's guest kernel has dm-verity and dm-init built in (kernel-builder/configs/common/verity.conf)", () => {
    const config = readFileSync(join(dirname(KERNEL), 'kernel.config'), 'utf8');
    for (const opt of ['CONFIG_BLK_DEV_DM', 'CONFIG_DM_INIT', 'CONFIG_DM_VERITY']) expect(config).toMatch(new RegExp(`^${opt}=y$`, 'm'));
  });

  test.each(['ext4', 'erofs'])('%s: boots to the ready line with its root on the dm-verity device', (fsType) => {
    const wd = join(dir, `wd-${fsType}`);
    const built = osb(imageArgs(wd, fsType));
    expect(built.stderr + built.stdout).toMatch(/dm-verity root hash [0-9a-f]{64}/);
    expect(built.code).toBe(0);
    const r = osb(bootArgs(wd, 'cat,/etc/hostname'));
    expect(r.code).toBe(0);
    const consoleLog = readFileSync(join(wd, 'logs', 'boot.log'), 'utf8');
    const rootHash = /^root_hash=(\w+)$/m.exec(readFileSync(join(wd, 'root_hash.txt'), 'utf8'))![1]!;
    expect(consoleLog).toContain(`dm-mod.create="root,,,ro,0 `);
    expect(consoleLog).toContain(` sha256 ${rootHash} `);
    expect(consoleLog).toMatch(/device-mapper: ioctl: dm-0 \(root\) is ready/);
    expect(consoleLog).toMatch(fsType === 'ext4' ? /EXT4-fs \(dm-0\): mounted/ : /erofs: \(device dm-0\): mounted/);
    expect(consoleLog).toMatch(/osb-agent: ready/);
    expect(consoleLog).toMatch(/^osb-fixture\r?$/m);
    expect(consoleLog).not.toMatch(/verity: .*corrupted/);
  }, 240_000);

  test("one flipped byte in a file's data: the guest's read fails with a dm-verity error and osb boot reports it with the console tail", () => {
    const wd = join(dir, 'wd-flip');
    expect(osb(imageArgs(wd, 'ext4')).code).toBe(0);
    const img = join(wd, 'osb.img');
    const offset = sfdiskJson(img).partitions[0]!.start * 512;
    // The file's first data block, from the filesystem's own block map.
    const block = Number(sh(['debugfs', '-R', 'bmap /var/lib/data/hello.txt 0', `${img}?offset=${offset}`]).trim());
    expect(block).toBeGreaterThan(0);
    const bytes = readFileSync(img);
    const at = offset + block * 4096;
    expect(bytes.toString('utf8', at, at + 10)).toBe('hello from');
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(img, bytes);

    const r = osb(bootArgs(wd, 'cat,/var/lib/data/hello.txt'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dm-verity found data that does not match the root hash/);
    // The console tail: the kernel's verity message and the guest's failed read.
    expect(r.stderr).toMatch(new RegExp(`device-mapper: verity: \\S+: data block ${block} is corrupted`));
    expect(r.stderr).toMatch(/cat: read error: I\/O error|Input\/output error/);
    expect(r.stderr).toMatch(/osb-agent: exit status=1/);
  }, 240_000);
});
