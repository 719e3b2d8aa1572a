/**
 * The shared build cache through a real docker-registry, with two workdirs standing for two
 * machines. The rootfs is built on an oci: parent (no distro bootstrap needed): the first workdir
 * builds it and pushes it with --cache-to; the second, with --cache-from and the same inputs,
 * pulls it instead of building (no parent unpacked in its log) and gets the same OCI manifest. A
 * tampered blob in the registry's storage is refused and the rootfs built.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { craftTar } from '../helpers/crafted-tar.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { localDigest, makeRegistry, osbAsync, type Registry } from '../publish/servers.js';

const run = isRoot ? describe : describe.skip;
let reg: Registry;
let parent: string;
let hook: string;

beforeAll(async () => {
  if (!isRoot) return;
  const rootfs = makeFixtureRootfs(join(tempDir('osb-cache-'), 'rootfs'));
  const wd = tempDir('osb-cache-base-');
  const built = osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/base:1']);
  if (built.code !== 0) throw new Error(built.stderr);
  parent = `oci:${join(wd, 'osb-oci')}:1`;
  reg = await makeRegistry(tempDir('osb-cache-registry-'), 'plain');
  hook = join(tempDir('osb-cache-hook-'), 'setcap.sh');
  writeFileSync(hook, '#!/bin/sh\nset -e\nsetcap cap_net_raw+ep "$ROOTFS_DIR/bin/busybox"\n');
  chmodSync(hook, 0o755);
}, 120_000);

const registries: Registry[] = [];
afterAll(async () => {
  await reg?.stop();
  for (const r of registries) await r.stop();
  removeTempDirs();
});

/** Every setting the builds rely on. */
const args = (wd: string, ...more: string[]) => ['oci', '--workdir', wd, '--parent', parent, '--agent-init', '--hook', hook, '--oci-ref', 'localhost/child:1', '--no-docker-archive', '--insecure-registry', ...more];

run('--cache-to / --cache-from', () => {
  test('a second workdir pulls the rootfs instead of building it and gets the same manifest; a tampered blob is refused and the rootfs built', async () => {
    const one = tempDir('osb-cache-one-');
    const a = await osbAsync(args(one, '--cache-to', `${reg.host}/osb-cache`));
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/unpacked parent layer/); // the parent was unpacked

    const two = tempDir('osb-cache-two-');
    const b = await osbAsync(args(two, '--cache-from', `${reg.host}/osb-cache`));
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/rootfs pulled from 127\.0\.0\.1:\d+\/osb-cache:rootfs-[0-9a-f]{64} instead of built/);
    expect(b.stdout).not.toMatch(/unpacked parent layer/);
    expect(localDigest(join(two, 'osb-oci'))).toBe(localDigest(join(one, 'osb-oci')));
    expect(execFileSync('getcap', [join(two, 'rootfs', 'bin/busybox')], { encoding: 'utf8' })).toMatch(/cap_net_raw[=+]ep/);

    // Tamper with the cache's layer in the registry's storage (the only gzip blob there).
    const blobs = join(reg.storage, 'docker/registry/v2/blobs/sha256');
    let tampered = 0;
    for (const p of readdirSync(blobs)) {
      for (const d of readdirSync(join(blobs, p))) {
        const data = join(blobs, p, d, 'data');
        const bytes = readFileSync(data);
        if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
          bytes[bytes.length - 1] ^= 0xff;
          writeFileSync(data, bytes);
          tampered++;
        }
      }
    }
    expect(tampered).toBeGreaterThan(0);
    const three = tempDir('osb-cache-three-');
    const c = await osbAsync(args(three, '--cache-from', `${reg.host}/osb-cache`));
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/warning: rootfs: cached rootfs at 127\.0\.0\.1:\d+\/osb-cache:rootfs-[0-9a-f]{64} refused: .*sha256.*; building it instead/);
    expect(c.stdout).toMatch(/unpacked parent layer/);
    expect(localDigest(join(three, 'osb-oci'))).toBe(localDigest(join(one, 'osb-oci')));
    expect(existsSync(join(three, '.osb-cache-in-rootfs'))).toBe(false);
  }, 300_000);

  test('osb image: the second workdir pulls the rootfs and the image (same bytes)', async () => {
    const imgArgs = (wd: string, ...more: string[]) => ['image', '--workdir', wd, '--parent', parent, '--agent-init', '--insecure-registry', ...more];
    // A registry of its own: the first test left a tampered rootfs layer in the shared blob store.
    const reg = await makeRegistry(tempDir('osb-cache-img-registry-'), 'plain');
    registries.push(reg);
    const one = tempDir('osb-cache-img-one-');
    const a = await osbAsync(imgArgs(one, '--cache-to', `${reg.host}/osb-cache-img`));
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    const two = tempDir('osb-cache-img-two-');
    const b = await osbAsync(imgArgs(two, '--cache-from', `${reg.host}/osb-cache-img`));
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/image pulled from 127\.0\.0\.1:\d+\/osb-cache-img:image-[0-9a-f]{64} instead of built/);
    const img = (wd: string) => readdirSync(wd).find((n) => n.endsWith('.img'))!;
    expect(img(two)).toBe(img(one));
    expect(readFileSync(join(two, img(two))).equals(readFileSync(join(one, img(one))))).toBe(true);
  }, 300_000);

  test('a crafted cache artefact (a layer that climbs out with ..) is refused naming its member; nothing outside the tree changes', async () => {
    // The tag a rootfs of these inputs is cached under, from a miss in an empty repository.
    const miss = await osbAsync(args(tempDir('osb-cache-probe-'), '--cache-from', `${reg.host}/evil-cache`));
    const tag = /evil-cache:(rootfs-[0-9a-f]{64})/.exec(miss.stdout)?.[1];
    expect(tag).toBeDefined();
    const host = tempDir('osb-cache-host-');
    writeFileSync(join(host, 'keep'), 'host file\n');
    const layer = gzipSync(craftTar([{ name: 'etc', type: 'dir' }, { name: `../../../../../../../..${host}/keep`, data: 'evil' }]));
    const config = Buffer.from('{}');
    const base = `http://${reg.host}/v2/evil-cache`;
    const push = async (b: Buffer) => {
      const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
      const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
      const loc = new URL(start.headers.get('location')!, base);
      loc.searchParams.set('digest', d);
      expect((await fetch(loc, { method: 'PUT', body: new Uint8Array(b), headers: { 'content-type': 'application/octet-stream' } })).status).toBe(201);
      return { digest: d, size: b.length };
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.osb.cache.config.v1+json', ...(await push(config)) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await push(layer)), annotations: { 'org.osb.output': '0' } }],
    };
    expect((await fetch(`${base}/manifests/${tag}`, { method: 'PUT', body: JSON.stringify(manifest), headers: { 'content-type': manifest.mediaType } })).status).toBe(201);

    const wd = tempDir('osb-cache-evil-');
    const r = await osbAsync(args(wd, '--cache-from', `${reg.host}/evil-cache`));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: rootfs: cached rootfs at .*evil-cache:rootfs-[0-9a-f]{64} refused: layer sha256:[0-9a-f]{64}: member '.*keep' climbs out of the tree with '\.\.'; building it instead/);
    expect(`${r.stdout}${r.stderr}`.match(/refused: layer sha256/g)).toHaveLength(1); // the warning once, not live and again
    expect(r.stdout).toMatch(/unpacked parent layer/);
    expect(readFileSync(join(host, 'keep'), 'utf8')).toBe('host file\n');
    expect(readdirSync(wd).filter((n) => /osb-(stage|tmp)|osb-cache-in/.test(n))).toEqual([]);
  }, 300_000);

  test('a cache without the artifact: the target is built, saying so', async () => {
    const wd = tempDir('osb-cache-miss-');
    const r = await osbAsync(args(wd, '--cache-from', `${reg.host}/nothing-here`));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no cached rootfs at 127\.0\.0\.1:\d+\/nothing-here:rootfs-[0-9a-f]{64}: building it/);
    expect(r.stdout).toMatch(/unpacked parent layer/);
  }, 120_000);
});
