/**
 * `osb oci --parent docker://…` end to end: a base published to a real docker-registry, a child
 * built on it by the rootfs target (the parent unpacked, the agent and a hook on top), and the
 * child image: the base's layers plus one, a whiteout for the file the hook deleted, and umoci's
 * unpack of the child equal to the child's rootfs.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { treeState } from '../../oci-builder/parent.js';
import { makeTestContext, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { localDigest, makeRegistry, osbAsync, type Registry } from '../publish/servers.js';

const run = isRoot ? describe : describe.skip;
let reg: Registry;
let baseLayout: string;

beforeAll(async () => {
  if (!isRoot) return;
  const rootfs = makeFixtureRootfs(join(tempDir('osb-parent-cli-'), 'rootfs'));
  const wd = tempDir('osb-parent-cli-base-');
  const built = osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/base:1']);
  if (built.code !== 0) throw new Error(built.stderr);
  reg = await makeRegistry(tempDir('osb-parent-cli-registry-'), 'plain');
  const pushed = await osbAsync(['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/base:1', '--publish-registry', `${reg.host}/base`, '--tag', '1', ...reg.osbArgs]);
  if (pushed.code !== 0) throw new Error(pushed.stderr);
  baseLayout = join(wd, 'osb-oci');
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  removeTempDirs();
});

const manifestOf = (layout: string) => JSON.parse(readFileSync(join(layout, 'blobs', localDigest(layout).replace(':', '/')), 'utf8')) as { layers: { digest: string }[] };

run('osb oci --parent docker://…', () => {
  test('the base layers plus one; the hook-deleted file is a whiteout; umoci unpacks the child rootfs', async () => {
    const wd = tempDir('osb-parent-cli-child-');
    const hook = join(wd, 'child-hook.sh');
    writeFileSync(hook, '#!/bin/sh\nset -e\nrm "$ROOTFS_DIR/etc/hostname"\necho child > "$ROOTFS_DIR/etc/child-release"\n');
    chmodSync(hook, 0o755);
    const r = await osbAsync(['oci', '--workdir', wd, '--parent', `docker://${reg.host}/base:1`, '--insecure-registry', '--agent-init', '--hook', hook, '--oci-ref', 'localhost/child:1', '--no-docker-archive']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const log = readFileSync(join(wd, 'logs', 'rootfs.log'), 'utf8');
    expect(log).not.toMatch(/mmdebstrap/);

    const base = manifestOf(baseLayout);
    const child = manifestOf(join(wd, 'osb-oci'));
    expect(child.layers).toHaveLength(base.layers.length + 1);
    expect(child.layers.slice(0, base.layers.length)).toEqual(base.layers);
    const top = join(wd, 'osb-oci', 'blobs', child.layers.at(-1)!.digest.replace(':', '/'));
    const names = execFileSync('tar', ['-tzf', top], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(names).toEqual(expect.arrayContaining(['etc/.wh.hostname', 'etc/child-release']));
    expect(names).not.toContain('bin/busybox');

    const out = join(wd, 'umoci');
    execFileSync('umoci', ['unpack', '--image', `${join(wd, 'osb-oci')}:localhost/child:1`, out]);
    const ctx = makeTestContext(wd, 'check');
    expect(treeState(join(out, 'rootfs'), ctx)).toEqual(treeState(join(wd, 'rootfs'), ctx));

    // The oci target pulls the parent again when the rootfs did not leave it (e.g. --cache-from).
    const { rmSync } = await import('node:fs');
    rmSync(join(wd, 'osb-parent'), { recursive: true });
    const refetch = await osbAsync(['oci', '--force', '--no-deps', '--workdir', wd, '--parent', `docker://${reg.host}/base:1`, '--insecure-registry', '--agent-init', '--hook', hook, '--oci-ref', 'localhost/child:1', '--no-docker-archive']);
    expect(refetch.stderr).toBe('');
    expect(manifestOf(join(wd, 'osb-oci'))).toEqual(child);

    // Up to date: a second run builds nothing.
    const again = osb(['oci', '--workdir', wd, '--parent', `docker://${reg.host}/base:1`, '--insecure-registry', '--agent-init', '--hook', hook, '--oci-ref', 'localhost/child:1', '--no-docker-archive']);
    expect(again.code).toBe(0);
    expect(manifestOf(join(wd, 'osb-oci'))).toEqual(child);
  }, 300_000);

  test.each(['oci', 'oci-archive'])('--parent %s: the same base layers plus one', async (kind) => {
    const wd = tempDir('osb-parent-cli-local-');
    const ref = kind === 'oci' ? `oci:${baseLayout}:1` : `oci-archive:${baseLayout}.tar`;
    const r = await osbAsync(['oci', '--workdir', wd, '--parent', ref, '--agent-init', '--oci-ref', 'localhost/child:2', '--no-docker-archive']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const base = manifestOf(baseLayout);
    const child = manifestOf(join(wd, 'osb-oci'));
    expect(child.layers.slice(0, base.layers.length)).toEqual(base.layers);
    expect(child.layers).toHaveLength(base.layers.length + 1);
  }, 120_000);

  test('--dry-run pulls and writes nothing', async () => {
    const wd = tempDir('osb-parent-cli-dry-');
    const r = await osbAsync(['oci', '--dry-run', '--workdir', wd, '--parent', `docker://${reg.host}/base:1`, '--insecure-registry', '--agent-init', '--oci-ref', 'localhost/child:3']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/unpacking parent docker:\/\/127\.0\.0\.1:\d+\/base:1 as the base/);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(wd).filter((n) => !['logs', '.osb'].includes(n))).toEqual([]);
  }, 60_000);

  test('a parent reference of an unknown kind is a usage error', () => {
    const r = osb(['oci', '--workdir', tempDir('osb-parent-cli-bad-'), '--parent', 'ftp://x/base', '--agent-init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--parent 'ftp:\/\/x\/base': expected docker:\/\/HOST\/REPO:TAG, oci:DIR\[:TAG\], oci-archive:FILE or containers-storage:NAME\[:TAG\]/);
  });
});
