/**
 * --cache-to on targets that are already up to date, as a user sharing what they built would run
 * it: the cache is asked first (HEAD of the tag), what it lacks is pushed, and each target says
 * which, "rootfs up to date; pushed to REF:TAG" or "... already in REF:TAG". A second workdir's
 * --cache-from then pulls both instead of building. The rootfs is built on an oci: parent (no
 * distro bootstrap); the registry is a real docker-registry.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
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

  test('--cache-from of a tag that is an OCI index takes the host\'s platform from it; an index without it is a warning, and the target is built', async () => {
    const one = tempDir('osb-cache-index-one-');
    const shared = await osbAsync(['rootfs', '--workdir', one, '--parent', parent, '--agent-init', '--insecure-registry', '--cache-to', `${reg.host}/osb-index-share`]);
    expect(shared.code).toBe(0);
    const tag = /osb-index-share:(rootfs-[0-9a-f]{64})/.exec(shared.stdout)?.[1];
    expect(tag).toBeDefined();
    const url = `http://${reg.host}/v2/osb-index-share/manifests/${tag}`;
    const got = await fetch(url, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const bytes = Buffer.from(await got.arrayBuffer());
    const digest = got.headers.get('docker-content-digest')!;
    // Another image in the repository (an empty one, no cache artifact): what a wrong pick would get.
    const config = Buffer.from('{}');
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const post = await fetch(`http://${reg.host}/v2/osb-index-share/blobs/uploads/`, { method: 'POST' });
    const location = new URL(post.headers.get('location')!, `http://${reg.host}`);
    location.searchParams.set('digest', configDigest);
    expect((await fetch(location, { method: 'PUT', body: config, headers: { 'Content-Type': 'application/octet-stream' } })).status).toBe(201);
    const other = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: [] }));
    const otherPut = await fetch(`http://${reg.host}/v2/osb-index-share/manifests/other`, { method: 'PUT', body: other, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    expect(otherPut.status).toBe(201);
    const otherDigest = otherPut.headers.get('docker-content-digest')!;
    const putIndex = async (platforms: Record<string, string>[], others: boolean) => {
      const manifests = platforms.map((platform, i) => (i === 0 || !others ? { digest, size: bytes.length } : { digest: otherDigest, size: other.length })).map((m, i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: platforms[i] }));
      const r = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }, body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: manifests.reverse() }) });
      expect(r.status).toBe(201);
    };
    // The host's entry (amd64) and, before it, an arm64 one naming the other image.
    await putIndex([{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }], true);
    const two = tempDir('osb-cache-index-two-');
    const pulled = await osbAsync(['rootfs', '--workdir', two, '--parent', parent, '--agent-init', '--insecure-registry', '--cache-from', `${reg.host}/osb-index-share`]);
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(/rootfs pulled from 127\.0\.0\.1:\d+\/osb-index-share:rootfs-[0-9a-f]{64} instead of built/);

    await putIndex([{ os: 'linux', architecture: 's390x' }], false);
    const three = tempDir('osb-cache-index-three-');
    const built = await osbAsync(['rootfs', '--workdir', three, '--parent', parent, '--agent-init', '--insecure-registry', '--cache-from', `${reg.host}/osb-index-share`]);
    expect(built.code).toBe(0);
    expect(built.stderr).toMatch(/warning: .*cached rootfs at 127\.0\.0\.1:\d+\/osb-index-share:rootfs-[0-9a-f]{64} refused: .*without linux\/amd64 \(it has linux\/s390x\); building it instead/);
    expect(built.stdout).not.toMatch(/pulled from/);
  }, 300_000);
});
