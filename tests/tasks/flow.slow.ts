/**
 * The design card's flow, as a new user types it: `osb rootfs` with flags, then `osb image`,
 * `osb initrd` and `osb boot --initrd` with nothing but --workdir. The workdir remembers what the
 * rootfs was built with, so the later commands use that rootfs as it is (built once), and what
 * boots is the agent-init guest the first command asked for. A file then added to the rootfs by
 * hand is in the image and the initrd the same bare commands build next. Alpine from the test
 * repository on 127.0.0.1, and Debian from Debian's archive.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestKernel } from '../helpers/guest-kernel.js';
import { AGENT_SCRIPT } from '../helpers/fixture-rootfs.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { ext4Cat, sfdiskJson } from '../image-builder/helpers.js';
import { buildTestRepo, osbAsync, serveRepo, type TestRepo } from '../rootfs-builder/apk/helpers/test-repo.js';

jest.setTimeout(30 * 60_000);

let kernel: string;
let repo: TestRepo;
let server: Awaited<ReturnType<typeof serveRepo>>;
const dirs: string[] = [];
beforeAll(async () => {
  kernel = guestKernel(); // before the server starts: it runs osb synchronously
  repo = buildTestRepo(mkdtempSync(join(tmpdir(), 'osb-flow-repo-')));
  server = await serveRepo(repo);
});
afterAll(async () => {
  await server?.close();
  for (const d of [...dirs, repo?.root]) if (d) rmSync(d, { recursive: true, force: true });
});

/** Slim by default: no docs but the license files, no man or info pages, no translations. */
function expectSlim(root: string): void {
  const files = (sub: string) => execFileSync('find', [join(root, sub), '-type', 'f'], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.slice(root.length));
  const docs = files('usr/share/doc');
  expect(docs.length).toBeGreaterThan(10);
  expect(docs.filter((f) => !/^\/usr\/share\/doc\/[^/]+\/copyright$/.test(f))).toEqual([]);
  expect(files('usr/share/man')).toEqual([]);
  expect(files('usr/share/locale')).toEqual([]);
  expect(execFileSync('ls', [join(root, 'usr/lib/locale')], { encoding: 'utf8' }).trim()).toBe('C.utf8');
}

async function ok(args: string[]): Promise<string> {
  const r = await osbAsync(args);
  if (r.code !== 0) throw new Error(`osb ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const rootfsFlags: Record<string, () => string[]> = {
  alpine: () => ['--distro', 'alpine', '--agent-init', '--mirror', `${server.url}/good`, '--keys-dir', repo.keysDir, '--cache-dir', join(repo.root, 'cache')],
  debian: () => ['--distro', 'debian', '--agent-init', '--cache-dir', join(TEST_CACHE, 'osb-cache')],
};

describe("the design card's flow", () => {
  test.each(['alpine', 'debian'])('%s: rootfs with flags, then image, initrd and boot with nothing but --workdir', async (distro) => {
    const wd = mkdtempSync(join(tmpdir(), `osb-flow-${distro}-`));
    dirs.push(wd);
    // --kernel is a boot setting given here once; the workdir keeps it like the others.
    await ok(['rootfs', ...rootfsFlags[distro]!(), '--kernel', kernel, '--workdir', wd]);
    const record = readFileSync(join(wd, '.osb/state/rootfs.json'), 'utf8');
    const tree = statSync(join(wd, 'rootfs'));

    const image = await ok(['image', '--workdir', wd]);
    const initrd = await ok(['initrd', '--workdir', wd]);
    const boot = await ok(['boot', '--initrd', '--workdir', wd]);

    // The rootfs was built once: every later command found it up to date and left it alone.
    for (const out of [image, initrd, boot]) expect(out).toContain('rootfs [SKIPPED: up to date]');
    expect(readFileSync(join(wd, '.osb/state/rootfs.json'), 'utf8')).toBe(record);
    expect(statSync(join(wd, 'rootfs')).ino).toBe(tree.ino);
    expect(statSync(join(wd, 'rootfs')).mtimeMs).toBe(tree.mtimeMs);
    expect(JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8'))).toMatchObject({ distro, agentInit: true, slim: true });
    if (distro === 'debian') expectSlim(join(wd, 'rootfs'));

    // In the image and in the initrd, /sbin/init is the agent.
    const agent = readFileSync(AGENT_SCRIPT, 'utf8');
    const img = join(wd, 'osb.img');
    const p1 = sfdiskJson(img).partitions[0]!;
    expect(ext4Cat(img, p1.start * 512, '/sbin/init')).toBe(agent);
    // (Debian's /sbin is a link to usr/sbin: the file itself is usr/sbin/init.)
    const initInInitrd = execFileSync('sh', ['-c', `zstd -dc ${join(wd, 'osb-initrd.img')} | cpio -i --quiet --to-stdout 'sbin/init' 'usr/sbin/init'`]).toString();
    expect(initInInitrd).toBe(agent);

    // And it boots to the agent's ready line.
    expect(boot).toMatch(/ready after \d+\.\d+ s \((TCG|KVM)/);
    expect(boot).toContain('initrd [SKIPPED: up to date]');

    // Then the user edits WORKDIR/rootfs by hand, as the README says they may: the same bare
    // commands build the image and the initrd again (not the rootfs, which osb would replace),
    // and both hold the edit.
    writeFileSync(join(wd, 'rootfs/etc/added-by-hand'), 'edited after the build\n');
    const again = await ok(['image', '--workdir', wd]);
    expect(again).toContain('rootfs [SKIPPED: up to date]');
    expect(again).toMatch(/^✔ image$/m);
    expect(ext4Cat(img, p1.start * 512, '/etc/added-by-hand')).toBe('edited after the build\n');
    const initrdAgain = await ok(['initrd', '--workdir', wd]);
    expect(initrdAgain).toMatch(/^✔ initrd$/m);
    expect(execFileSync('sh', ['-c', `zstd -dc ${join(wd, 'osb-initrd.img')} | cpio -i --quiet --to-stdout etc/added-by-hand`]).toString()).toBe('edited after the build\n');
    expect(readFileSync(join(wd, 'rootfs/etc/added-by-hand'), 'utf8')).toBe('edited after the build\n');
  });
});
