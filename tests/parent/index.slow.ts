/**
 * --parent of a multi-platform image: an OCI index in a real docker-registry naming an amd64 and
 * an arm64 image. osb takes the one for --arch (the host's by default), fetched by the digest the
 * index names; an index without that platform is one line listing the ones it has.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { errorLine, osb } from '../helpers/cli.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { localDigest, makeRegistry, osbAsync, type Registry } from '../publish/servers.js';

const run = isRoot ? describe : describe.skip;
let reg: Registry;
const images: Record<string, { digest: string; size: number }> = {};

async function putIndex(tag: string, entries: { image: string; platform: Record<string, string> }[]): Promise<void> {
  const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries.map((e) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...images[e.image], platform: e.platform })) });
  const r = await fetch(`http://${reg.host}/v2/base/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }, body });
  if (r.status !== 201) throw new Error(`PUT index: ${r.status} ${await r.text()}`);
}

beforeAll(async () => {
  if (!isRoot) return;
  reg = await makeRegistry(tempDir('osb-index-registry-'), 'plain');
  for (const arch of ['amd64', 'arm64']) {
    const rootfs = makeFixtureRootfs(join(tempDir(`osb-index-${arch}-`), 'rootfs'));
    writeFileSync(join(rootfs, 'etc', 'platform'), `${arch}\n`);
    const wd = tempDir(`osb-index-wd-${arch}-`);
    const built = osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', `localhost/base:${arch}`]);
    if (built.code !== 0) throw new Error(built.stderr);
    const pushed = await osbAsync(['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', `localhost/base:${arch}`, '--publish-registry', `${reg.host}/base`, '--tag', arch, ...reg.osbArgs]);
    if (pushed.code !== 0) throw new Error(pushed.stderr);
    const digest = localDigest(join(wd, 'osb-oci'));
    images[arch] = { digest, size: statSync(join(wd, 'osb-oci', 'blobs', digest.replace(':', '/'))).size };
  }
  await putIndex('multi', [
    { image: 'amd64', platform: { os: 'linux', architecture: 'amd64' } },
    { image: 'arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  await putIndex('s390x-only', [{ image: 'amd64', platform: { os: 'linux', architecture: 's390x' } }]);
}, 240_000);

afterAll(async () => {
  await reg?.stop();
  removeTempDirs();
});

run('--parent of an OCI index', () => {
  test('skopeo sees the index; on this host the amd64 image is unpacked, with --arch aarch64 the arm64 one', async () => {
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/base:multi`], { encoding: 'utf8' })) as { manifests: { platform: { architecture: string } }[] };
    expect(raw.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    for (const [arch, want] of [[undefined, 'amd64'], ['aarch64', 'arm64']] as const) {
      const wd = tempDir('osb-index-child-');
      const r = await osbAsync(['rootfs', '--workdir', wd, '--parent', `docker://${reg.host}/base:multi`, '--insecure-registry', ...(arch ? ['--arch', arch] : [])]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(readFileSync(join(wd, 'rootfs', 'etc', 'platform'), 'utf8')).toBe(`${want}\n`);
      expect(r.stdout).toContain(`(manifest ${images[want]!.digest},`);
    }
  }, 240_000);

  test('an index without the platform: one line naming the platforms it has, nothing unpacked', () => {
    const wd = tempDir('osb-index-none-');
    const r = osb(['rootfs', '--workdir', wd, '--parent', `docker://${reg.host}/base:s390x-only`, '--insecure-registry']);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/base:s390x-only is a multi-platform image without linux\/amd64 \(it has linux\/s390x\)$/);
    expect(() => statSync(join(wd, 'rootfs', 'etc'))).toThrow();
  }, 120_000);
});
