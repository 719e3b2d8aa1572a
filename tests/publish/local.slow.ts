/** osb publish --publish-local: the image lands in the podman store podman is configured with (here an isolated one). */
import { afterAll, expect, test } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { localDigest, pexec } from './servers.js';

afterAll(removeTempDirs);

test('podman load of the oci-archive, with the extra tags; podman run sees the rootfs', async () => {
  const rootfs = makeFixtureRootfs(join(tempDir('osb-local-'), 'rootfs'));
  const wd = tempDir('osb-local-wd-');
  const store = tempDir('osb-local-store-');
  const conf = join(store, 'storage.conf');
  writeFileSync(conf, `[storage]\ndriver = "vfs"\nrunroot = "${store}/run"\ngraphroot = "${store}/root"\n`);
  const env = cleanEnv({ CONTAINERS_STORAGE_CONF: conf });
  osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/osb-local:1']);
  const r = osb(['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/osb-local:1', '--publish-local', '--tag', '1', '--tag', 'extra'], { env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/loaded localhost\/osb-local:1, localhost\/osb-local:extra into the local podman store/);
  const podman = ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs'];
  const { stdout } = await pexec('podman', [...podman, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.Digest}}']);
  const digest = localDigest(join(wd, 'osb-oci'));
  expect(stdout.trim().split('\n').sort()).toEqual([`localhost/osb-local:1 ${digest}`, `localhost/osb-local:extra ${digest}`]);
  const run = await pexec('podman', [...podman, '--runtime', '/usr/sbin/runc', 'run', '--rm', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network=none', 'localhost/osb-local:extra', 'cat', '/var/lib/data/hello.txt']);
  expect(run.stdout).toBe('hello from the fixture\n');
}, 300_000);

test('with nowhere to publish: one line, exit 2', () => {
  const r = osb(['publish', '--workdir', tempDir()]);
  expect(r.code).toBe(2);
  expect(errorLine(r.stderr)).toBe('osb: osb publish has nowhere to publish to');
});
