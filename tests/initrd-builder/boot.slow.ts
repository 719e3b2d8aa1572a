/**
 * The kernel is the reader that matters: boot osb's guest kernel under qemu (TCG) on an initrd
 * of each compression and check, from inside the guest, that /init ran the agent and that hard
 * links came out as one inode with its data (the data travels on the last link only).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { COMPRESSIONS, buildInitrd } from '../../initrd-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';
import { makeCtx, removeTempDirs, tempDir } from './helpers.js';

let kernel: string;
let dir: string;
let rootfs: string;
beforeAll(() => {
  kernel = guestKernel(); // cached under OSB_TEST_CACHE; built by `osb kernel` the first time
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
}, 45 * 60_000);
afterAll(removeTempDirs);

/** Boot `initrd`, run `cmd` (words joined by commas, as the smoke agent takes them), return the console. */
function boot(initrd: string, cmd: string): string {
  return execFileSync(
    'qemu-system-x86_64',
    ['-m', '512', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', `console=ttyS0 panic=-1 osb.cmd=${cmd}`],
    { encoding: 'utf8', timeout: 120_000 },
  );
}

describe('the guest kernel unpacks what osb writes', () => {
  test.each(COMPRESSIONS.map((c) => [c]))('%s: /init runs the agent; hard links are one inode with the data', async (c) => {
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, `boot-${c}.img`), compression: c, agentInit: true });
    const out = boot(r.path, 'ls,-lin,/var/lib/data/hello.txt,/var/lib/data/hello-link.txt;cat,/var/lib/data/hello-link.txt');
    expect(out).toMatch(/^osb-agent: ready /m);
    // `ls -lin` lines: inode, mode, link count, ... name.
    const inode = (name: string) => new RegExp(`^\\s*(\\d+) (\\S+)\\s+(\\d+) .* /var/lib/data/${name}\\r?$`, 'm').exec(out)?.slice(1, 4);
    const [ino, mode, nlink] = inode('hello.txt') ?? [];
    expect(inode('hello-link.txt')).toEqual([ino, mode, '2']);
    expect(nlink).toBe('2');
    expect(out).toContain('hello from the fixture');
    expect(out).toMatch(/^osb-agent: exit status=0/m);
  }, 180_000);
});
