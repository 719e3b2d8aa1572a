/**
 * --parent with extra packages: a Debian parent (the cached bookworm minbase tree, as an OCI
 * layout) and `--extra-pkgs hello`, installed by apt-get in a chroot of the unpacked parent. The
 * child image is the parent's layer plus one that holds the package, and the manifest lists it.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { debianRootfs, TEST_CACHE } from '../helpers/debian-rootfs.js';
import { isRoot } from '../helpers/fixture-rootfs.js';
import { localDigest, osbAsync } from '../publish/servers.js';

const run = isRoot ? describe : describe.skip;
afterAll(removeTempDirs);

const manifestOf = (layout: string) => JSON.parse(readFileSync(join(layout, 'blobs', localDigest(layout).replace(':', '/')), 'utf8')) as { layers: { digest: string }[] };

run('--parent with apt packages', () => {
  test('hello is installed on the Debian parent; the child is the parent layer plus one holding it', async () => {
    const base = tempDir('osb-parent-apt-base-');
    const built = osb(['oci', '--no-deps', '--rootfs-dir', debianRootfs(), '--workdir', base, '--oci-ref', 'localhost/debian:1']);
    expect(built.stderr).toBe('');
    const wd = tempDir('osb-parent-apt-child-');
    const r = await osbAsync(['oci', '--workdir', wd, '--parent', `oci:${join(base, 'osb-oci')}:1`, '--distro', 'debian', '--os-version', 'bookworm', '--agent-init', '--extra-pkgs', 'hello', '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--oci-ref', 'localhost/child:1', '--no-docker-archive']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(wd, 'logs', 'rootfs.log'), 'utf8')).not.toMatch(/mmdebstrap/);
    const parentLayers = manifestOf(join(base, 'osb-oci')).layers;
    const child = manifestOf(join(wd, 'osb-oci')).layers;
    expect(child.slice(0, -1)).toEqual(parentLayers);
    expect(child).toHaveLength(parentLayers.length + 1);
    const names = execFileSync('tar', ['-tzf', join(wd, 'osb-oci', 'blobs', child.at(-1)!.digest.replace(':', '/'))], { encoding: 'utf8', maxBuffer: 1 << 26 }).split('\n');
    expect(names).toContain('usr/bin/hello');
    expect(names).not.toContain('usr/bin/apt-get');
    expect(names.filter((n) => n.startsWith('var/lib/apt/lists/') && !/(lock|partial\/?)$/.test(n))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8')) as { packages: { name: string }[] };
    expect(manifest.packages.map((p) => p.name)).toContain('hello');
  }, 600_000);

  test("a parent whose links point at the host: apt's step and osb's cleanup stay inside the tree, and the parent's policy-rc.d is put back", async () => {
    const host = tempDir('osb-parent-apt-host-');
    mkdirSync(join(host, 'log/apt'), { recursive: true });
    writeFileSync(join(host, 'log/dpkg.log'), 'host dpkg log\n');
    writeFileSync(join(host, 'log/apt/history.log'), 'host apt history\n');
    writeFileSync(join(host, 'policy-rc.d'), 'host policy\n');
    const listing = () => execFileSync('sh', ['-c', 'cd "$1" && find . -printf "%p %s %T@\\n" | sort', 'sh', host], { encoding: 'utf8' });
    const before = listing();
    // The Debian tree with /var/log a link to the host's directory (and that path inside the
    // tree too, where the guest's apt writes), and /usr/sbin/policy-rc.d a link to a host file.
    const tree = join(tempDir('osb-parent-apt-links-'), 'rootfs');
    execFileSync('cp', ['-a', debianRootfs(), tree]);
    execFileSync('rm', ['-rf', join(tree, 'var/log')]);
    mkdirSync(join(tree, host, 'log/apt'), { recursive: true });
    symlinkSync(join(host, 'log'), join(tree, 'var/log'));
    symlinkSync(join(host, 'policy-rc.d'), join(tree, 'usr/sbin/policy-rc.d'));
    const base = tempDir('osb-parent-apt-links-base-');
    expect(osb(['oci', '--no-deps', '--rootfs-dir', tree, '--workdir', base, '--oci-ref', 'localhost/links:1']).code).toBe(0);
    const wd = tempDir('osb-parent-apt-links-child-');
    const r = await osbAsync(['rootfs', '--workdir', wd, '--parent', `oci:${join(base, 'osb-oci')}:1`, '--distro', 'debian', '--os-version', 'bookworm', '--agent-init', '--extra-pkgs', 'hello', '--cache-dir', join(TEST_CACHE, 'osb-cache')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(listing()).toBe(before);
    expect(existsSync(join(wd, 'rootfs/usr/bin/hello'))).toBe(true);
    expect(readlinkSync(join(wd, 'rootfs/usr/sbin/policy-rc.d'))).toBe(join(host, 'policy-rc.d'));
    // dpkg's log went where the guest's /var/log leads: inside the tree, and osb removed it there.
    expect(existsSync(join(wd, 'rootfs', host, 'log/dpkg.log'))).toBe(false);
  }, 600_000);
});
