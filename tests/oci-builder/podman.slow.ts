/**
 * podman loads the oci-archive and runs a command in the image (with runc: crun cannot run on
 * this host's cgroup v1, see ../shared/OCI-NOTES.md). An isolated store keeps the host's podman
 * store untouched.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildOci } from '../../oci-builder/index.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { makeCtx, makeRichRootfs } from './helpers.js';

jest.setTimeout(10 * 60_000);
let store: string;
let dir: string;
let rootfs: string;
const podman = (...args: string[]) =>
  spawnSync('podman', ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs', ...args], { encoding: 'utf8', timeout: 5 * 60_000 });
const run = (image: string, ...cmd: string[]) =>
  podman('--runtime', '/usr/sbin/runc', 'run', '--rm', '--network=none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', image, ...cmd);

beforeAll(() => {
  store = tempDir('osb-podman-');
  dir = tempDir();
  rootfs = makeRichRootfs(join(dir, 'rootfs'));
});
afterAll(() => {
  // vfs layers hold files podman made as root; rm -rf (removeTempDirs) removes them.
  removeTempDirs();
});

describe('podman load -i osb-docker.tar', () => {
  test('the docker-archive loads under its RepoTag and runs', async () => {
    const out = join(dir, 'docker');
    const ref = 'localhost/osb-podman-docker:1';
    await buildOci(makeCtx(out), { rootfsDir: rootfs, layoutDir: join(out, 'osb-oci'), archivePath: join(out, 'osb-oci.tar'), dockerArchivePath: join(out, 'osb-docker.tar'), ref, arch: 'x86_64', cmd: ['/sbin/init'] });
    const load = podman('load', '-i', join(out, 'osb-docker.tar'));
    expect(load.stderr + load.stdout).toContain(`Loaded image: ${ref}`);
    expect(run(ref, 'cat', '/var/lib/data/hello.txt').stdout).toBe('hello from the fixture\n');
  });
});

describe('podman load -i osb-oci.tar', () => {
  test.each(['gzip', 'zstd'] as const)('a %s image loads under its reference and runs a command with runc', async (compression) => {
    const out = join(dir, compression);
    const ref = `localhost/osb-podman-${compression}:1`;
    await buildOci(makeCtx(out), { rootfsDir: rootfs, layoutDir: join(out, 'osb-oci'), archivePath: join(out, 'osb-oci.tar'), ref, arch: 'x86_64', cmd: ['/bin/sh', '-c', '/sbin/init; exit $?'], compression });
    const load = podman('load', '-i', join(out, 'osb-oci.tar'));
    expect(load.stderr + load.stdout).toContain(`Loaded image: ${ref}`);
    expect(load.status).toBe(0);
    const cat = run(ref, 'cat', '/var/lib/data/hello.txt');
    expect(cat.stdout).toBe('hello from the fixture\n');
    expect(cat.status).toBe(0);
    // The image's own Cmd: the smoke agent under sh prints its ready line and exits 0.
    const agent = run(ref);
    expect(agent.stdout).toMatch(/^osb-agent: ready/m);
    expect(agent.status).toBe(0);
    // Owners, suid and the device node survived podman's own unpacking too.
    const ls = run(ref, 'ls', '-ln', '/var/lib/data/fifo', '/var/lib/data/setuid-tool');
    expect(ls.stdout).toMatch(/^prw-r--r-- +1 1000 +1000 .*fifo$/m);
    expect(ls.stdout).toMatch(/^-rwsr-xr-x .*setuid-tool$/m);
    expect(execFileSync('skopeo', ['inspect', '--format', '{{.Digest}}', `oci-archive:${join(out, 'osb-oci.tar')}`], { encoding: 'utf8' }).trim()).toMatch(/^sha256:/);
  });
});
