/**
 * osb boot --squashfs: osb's kernel boots the boot initrd, which mounts the squashfs under a
 * tmpfs overlay and switches into it; the agent from the squashfs reaches its ready line on a
 * writable /.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';

jest.setTimeout(20 * 60_000);
let kernel: string;
let rootfs: string;
beforeAll(() => {
  kernel = guestKernel();
  rootfs = makeFixtureRootfs(join(tempDir('osb-sqfs-boot-'), 'rootfs'));
});
afterAll(removeTempDirs);

describe('osb boot --squashfs', () => {
  test('reaches the ready line with / an overlay over the squashfs, and / is writable', () => {
    const wd = tempDir();
    const args = ['--no-deps', '--rootfs-dir', rootfs, '--workdir', wd];
    expect(osb(['squashfs', ...args]).code).toBe(0);
    // osb.cmd: the agent runs it after its ready line (',' stands for ' ').
    const probe = 'osb.cmd=grep,-c,"^overlay,/,overlay",/proc/mounts;echo,probe>/written&&cat,/written';
    const r = osb(['boot', '--squashfs', ...args, '--kernel', kernel, '--boot-timeout', '180', '--', probe]);
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
    expect(r.stdout).toMatch(/booting squashfs with/);
    expect(r.stdout).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
    const console = readFileSync(join(wd, 'logs', 'boot.log'), 'utf8');
    expect(console).toMatch(/-drive file=\S+osb\.squashfs,format=raw,if=virtio,readonly=on/);
    // The kernel's own messages can land between the agent's lines on the one console: leave them out.
    const agent = console.split('\n').filter((l) => !/^\[\s*\d+\.\d+\] /.test(l)).join('\n');
    expect(agent).toMatch(/osb-agent: running: grep -c "\^overlay \/ overlay" \/proc\/mounts;echo probe>\/written&&cat \/written\s+1\s+probe\s+osb-agent: exit status=0/);
  });
});
