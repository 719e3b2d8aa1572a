/**
 * --cache-to on targets that are already up to date, as a user sharing what they built would run
 * it: the cache is asked first (HEAD of the tag), what it lacks is pushed, and each target says
 * which, "rootfs up to date; pushed to REF:TAG" or "... already in REF:TAG". A second workdir's
 * --cache-from then pulls both instead of building. The rootfs is built on an oci: parent (no
 * distro bootstrap); the registry is a real docker-registry.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { makeRegistry, osbAsync, type Registry } from '../publish/servers.js';

const run = isRoot ? describe : describe.skip;
let reg: Registry;
let parent: string;

beforeAll(async () => {
  if (!isRoot) return;
  const rootfs = makeFixtureRootfs(join(tempDir('osb-cache-to-'), 'rootfs'));
  const wd = tempDir('osb-cache-to-base-');
  const built = osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/base:1']);
  if (built.code !== 0) throw new Error(built.stderr);
  parent = `oci:${join(wd, 'osb-oci')}:1`;
  reg = await makeRegistry(tempDir('osb-cache-to-registry-'), 'plain');
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  removeTempDirs();
});

const args = (wd: string, ...more: string[]) => ['image', '--workdir', wd, '--parent', parent, '--agent-init', '--insecure-registry', ...more];
const tagged = (target: string, what: string) => new RegExp(`^${target} up to date; ${what} 127\\.0\\.0\\.1:\\d+/osb-share:${target}-[0-9a-f]{64}$`, 'm');

run('--cache-to on up-to-date targets', () => {
  test('pushes what the cache lacks and says so, then says it is already there; another workdir pulls it', async () => {
    const one = tempDir('osb-cache-to-one-');
    const built = await osbAsync(args(one));
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);

    const share = await osbAsync(args(one, '--cache-to', `${reg.host}/osb-share`));
    expect(share.stderr).toBe('');
    expect(share.code).toBe(0);
    expect(share.stdout).toMatch(tagged('rootfs', 'pushed to'));
    expect(share.stdout).toMatch(tagged('image', 'pushed to'));
    expect(share.stdout).not.toMatch(/unpacked parent layer|wrote .*osb\.img/); // nothing rebuilt

    const again = await osbAsync(args(one, '--cache-to', `${reg.host}/osb-share`));
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(tagged('rootfs', 'already in'));
    expect(again.stdout).toMatch(tagged('image', 'already in'));
    expect(again.stdout).not.toMatch(/blobs uploaded/);

    const two = tempDir('osb-cache-to-two-');
    const pulled = await osbAsync(args(two, '--cache-from', `${reg.host}/osb-share`));
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(/rootfs pulled from 127\.0\.0\.1:\d+\/osb-share:rootfs-[0-9a-f]{64} instead of built/);
    expect(pulled.stdout).toMatch(/image pulled from 127\.0\.0\.1:\d+\/osb-share:image-[0-9a-f]{64} instead of built/);
  }, 300_000);

  test('with --log-format ndjson the skip event says what was done', async () => {
    const wd = tempDir('osb-cache-to-ndjson-');
    expect((await osbAsync(args(wd))).code).toBe(0);
    const r = await osbAsync(args(wd, '--cache-to', `${reg.host}/osb-share-ndjson`, '--log-format', 'ndjson'));
    expect(r.code).toBe(0);
    const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; target: string; reason?: string });
    expect(events.find((e) => e.target === 'rootfs' && e.event === 'skip')?.reason).toMatch(/^up to date; pushed to 127\.0\.0\.1:\d+\/osb-share-ndjson:rootfs-/);
  }, 300_000);
});
