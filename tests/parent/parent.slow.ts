/**
 * --parent mechanics against a real docker-registry: publish a base with osb, pull it back with
 * osb's registry client (every digest checked), unpack it as the base of a child rootfs, change
 * the child, and write the child image: the base's layers unchanged plus one layer of the
 * difference, with a whiteout for the deleted file. umoci is the oracle for the unpacked child.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOci } from '../../oci-builder/oci.js';
import { readParentLayout, treeState, unpackParent } from '../../oci-builder/parent.js';
import { pullToLayout } from '../../publish/pull.js';
import { silentReporter } from '../../lib/log.js';
import { makeTestContext, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { localDigest, makeRegistry, osbAsync, type Registry } from './../publish/servers.js';

const run = isRoot ? describe : describe.skip;
let reg: Registry;
let baseLayout: string;
let baseRootfs: string;

beforeAll(async () => {
  if (!isRoot) return;
  baseRootfs = makeFixtureRootfs(join(tempDir('osb-parent-'), 'rootfs'));
  const wd = tempDir('osb-parent-base-');
  const built = osb(['oci', '--no-deps', '--rootfs-dir', baseRootfs, '--workdir', wd, '--oci-ref', 'localhost/base:1']);
  if (built.code !== 0) throw new Error(built.stderr);
  baseLayout = join(wd, 'osb-oci');
  reg = await makeRegistry(tempDir('osb-parent-registry-'), 'plain');
  const pushed = await osbAsync(['publish', '--no-deps', '--rootfs-dir', baseRootfs, '--workdir', wd, '--oci-ref', 'localhost/base:1', '--publish-registry', `${reg.host}/base`, '--tag', '1', ...reg.osbArgs]);
  if (pushed.code !== 0) throw new Error(pushed.stderr);
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  removeTempDirs();
});

const manifestOf = (layout: string) => JSON.parse(readFileSync(join(layout, 'blobs', localDigest(layout).replace(':', '/')), 'utf8')) as { layers: { digest: string }[]; config: { digest: string } };

run('--parent from a registry', () => {
  test('pull, unpack, change, build: the base layers plus one, a whiteout for the deleted file; umoci unpacks the child rootfs', async () => {
    const work = tempDir('osb-parent-child-');
    const pulled = join(work, 'parent');
    const p = await pullToLayout({ host: reg.host, repo: 'base', insecure: true, log: silentReporter }, '1', pulled);
    expect(p.digest).toBe(localDigest(baseLayout));

    const ctx = makeTestContext(work, 'oci');
    const parent = await readParentLayout(pulled);
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    const stateFile = join(work, 'parent-state.json');
    await unpackParent(ctx, parent, rootfs, stateFile);
    // The unpacked parent is the base rootfs, owners, modes, links and devices included.
    expect(treeState(rootfs, ctx)).toEqual(treeState(baseRootfs, ctx));

    // The child: a file deleted, one added, one changed, a directory removed.
    unlinkSync(join(rootfs, 'etc/hostname'));
    writeFileSync(join(rootfs, 'usr/bin/tool'), 'child tool\n');
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nchild:x:1000:1000::/:/bin/sh\n');
    rmSync(join(rootfs, 'var/lib/data'), { recursive: true });
    // Only a capability set: the file is in the child's layer, with it.
    execFileSync('setcap', ['cap_net_raw+ep', join(rootfs, 'bin/busybox')]);

    const layoutDir = join(work, 'osb-oci');
    const r = await buildOci(ctx, { rootfsDir: rootfs, layoutDir, archivePath: join(work, 'osb-oci.tar'), ref: 'localhost/child:1', arch: 'x86_64', cmd: ['/sbin/init'], parent: { image: parent, stateFile } });
    expect(r).toBeDefined();
    const base = manifestOf(baseLayout);
    const child = manifestOf(layoutDir);
    expect(child.layers).toHaveLength(base.layers.length + 1);
    expect(child.layers.slice(0, base.layers.length)).toEqual(base.layers);
    const config = JSON.parse(readFileSync(join(layoutDir, 'blobs', child.config.digest.replace(':', '/')), 'utf8')) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toHaveLength(base.layers.length + 1);

    const top = join(layoutDir, 'blobs', child.layers.at(-1)!.digest.replace(':', '/'));
    const names = execFileSync('tar', ['-tzf', top], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(names).toEqual(expect.arrayContaining(['etc/.wh.hostname', 'etc/passwd', 'usr/bin/tool', 'var/lib/.wh.data', 'bin/busybox']));
    // Only the difference: nothing under the removed directory, no unchanged file.
    expect(names.filter((n) => n.startsWith('var/lib/data/') || n === 'bin/sh' || n.startsWith('sbin/'))).toEqual([]);

    const out = join(work, 'umoci');
    execFileSync('umoci', ['unpack', '--image', `${layoutDir}:localhost/child:1`, out]);
    expect(treeState(join(out, 'rootfs'), ctx)).toEqual(treeState(rootfs, ctx));
    expect(execFileSync('getcap', [join(out, 'rootfs', 'bin/busybox')], { encoding: 'utf8' })).toMatch(/cap_net_raw[=+]ep/);

    // osb's own unpacker applies the child layer's whiteouts over the base: a grandchild's base.
    const again = join(work, 'again');
    mkdirSync(again);
    await unpackParent(ctx, await readParentLayout(layoutDir), again, join(work, 'again-state.json'));
    expect(treeState(again, ctx)).toEqual(treeState(rootfs, ctx));
  }, 180_000);

  test('a blob tampered with in the registry storage is refused, and nothing is left behind', async () => {
    const base = manifestOf(baseLayout);
    const layer = base.layers[0]!.digest.slice('sha256:'.length);
    const data = join(reg.storage, 'docker/registry/v2/blobs/sha256', layer.slice(0, 2), layer, 'data');
    const good = readFileSync(data);
    writeFileSync(data, Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good[good.length - 1]! ^ 0xff])]));
    try {
      const work = tempDir('osb-parent-tampered-');
      await expect(pullToLayout({ host: reg.host, repo: 'base', insecure: true, log: silentReporter }, '1', join(work, 'parent'))).rejects.toThrow(/sent blob sha256:[0-9a-f]{64} of base as \d+ bytes with sha256 sha256:[0-9a-f]{64}/);
      expect(readdirSync(work)).toEqual([]);
    } finally {
      writeFileSync(data, good);
    }
  }, 60_000);
});
