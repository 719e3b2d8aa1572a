/**
 * Untrusted archives (a parent's layers, cache artefacts, oci-archives) cannot change anything
 * outside the tree: each crafted shape is refused naming its member, and a sentinel directory
 * outside the tree is byte-identical afterwards. A sound layer unpacks as GNU tar unpacks it.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractTar } from '../../oci-builder/extract.js';
import { treeState } from '../../oci-builder/parent.js';
import { readXattrs } from '../../oci-builder/xattrs.js';
import { makeTestContext, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { craftTar, type Member } from '../helpers/crafted-tar.js';
import { isRoot } from '../helpers/fixture-rootfs.js';

afterAll(removeTempDirs);

/** Every name under dir with its kind, mode, and content hash or link target. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const p = join(dir, rel);
    const st = lstatSync(p);
    const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : st.isDirectory() ? 'dir' : 'other';
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${what}`);
    if (st.isDirectory()) for (const c of readdirSync(p).sort()) walk(rel ? `${rel}/${c}` : c);
  };
  walk('');
  return out;
}

function sentinel(): string {
  const d = tempDir('osb-sentinel-');
  mkdirSync(join(d, 'sub'));
  writeFileSync(join(d, 'keep'), 'host file\n');
  writeFileSync(join(d, 'sub', 'inner'), 'host inner\n');
  return d;
}

async function unpackLayers(layers: readonly (readonly Member[])[]) {
  const work = tempDir('osb-extract-');
  const tree = join(work, 'tree');
  mkdirSync(tree);
  const ctx = makeTestContext(work, 'rootfs');
  for (const [i, l] of layers.entries()) {
    const file = join(work, `layer${i}.tar`);
    writeFileSync(file, craftTar(l));
    await extractTar(ctx, file, tree, { what: `parent layer ${i}`, whiteouts: true });
  }
  return tree;
}

/** Unpacking is refused with the member named, and `host` is as it was. */
async function refused(layers: (host: string) => readonly (readonly Member[])[], member: RegExp) {
  const host = sentinel();
  const before = snapshot(host);
  const err = await unpackLayers(layers(host)).then(() => undefined, (e: Error) => e);
  expect(err?.message).toMatch(member);
  expect(err?.message.split('\n')).toHaveLength(1);
  expect(snapshot(host)).toEqual(before);
}

describe('crafted layers are refused and change nothing outside the tree', () => {
  test('a chain of symlinks that ends outside, with an entry written through it', () =>
    refused((h) => [[{ name: 'a', type: 'symlink', link: 'b' }, { name: 'b', type: 'symlink', link: h }, { name: 'a/keep', data: 'evil' }]], /member 'a\/keep' goes through the symlink a/));

  test('the chain across layers: the link in a lower layer, the write in an upper one', () =>
    refused((h) => [[{ name: 'usr', type: 'dir' }, { name: 'usr/x', type: 'symlink', link: '../../../../../../..' + h }], [{ name: 'usr/x/keep', data: 'evil' }]], /member 'usr\/x\/keep' goes through the symlink usr\/x/));

  test('a whiteout reached through a symlink', () =>
    refused((h) => [[{ name: 'esc', type: 'symlink', link: h }], [{ name: 'esc/.wh.keep' }]], /whiteout 'esc\/\.wh\.keep' goes through the symlink esc/));

  test('an opaque whiteout reached through a symlink', () =>
    refused((h) => [[{ name: 'esc', type: 'symlink', link: h }], [{ name: 'esc/.wh..wh..opq' }]], /whiteout 'esc\/\.wh\.\.wh\.\.opq' goes through the symlink esc/));

  test("a '..' member", () => refused((h) => [[{ name: `../../../../../../../../..${h}/keep`, data: 'evil' }]], /member '.*keep' climbs out of the tree/));

  test('an absolute member', () => refused((h) => [[{ name: `${h}/keep`, data: 'evil' }]], /member '\/.*keep' is an absolute name/));

  test('a hard link to a file outside the tree', () => refused((h) => [[{ name: 'hl', type: 'hardlink', link: `../../../../../../..${h}/keep` }]], /member 'hl' is a hard link whose target .* climbs out/));

  test('a hard link through a symlink that leads outside', () =>
    refused((h) => [[{ name: 'esc', type: 'symlink', link: h }, { name: 'hl', type: 'hardlink', link: 'esc/keep' }]], /member 'hl' is a hard link whose target goes through the symlink esc/));

  test('one name given as a directory and then as a symlink in the same layer, then written through', () =>
    refused((h) => [[{ name: 'd', type: 'dir' }, { name: 'd', type: 'symlink', link: h }, { name: 'd/keep', data: 'evil' }]], /member 'd' appears twice, as a dir and as a symlink/));

  test('a device node outside dev/', () => refused(() => [[{ name: 'etc/disk', type: 'block', dev: [8, 0] }]], /member 'etc\/disk' is a block device \(8:0\) outside dev\//));

  test('every name is checked before anything of the layer is written', async () => {
    const host = sentinel();
    const work = tempDir('osb-extract-');
    const tree = join(work, 'tree');
    mkdirSync(tree);
    writeFileSync(join(work, 'l.tar'), craftTar([{ name: 'first', data: 'x' }, { name: '../escape', data: 'y' }]));
    await expect(extractTar(makeTestContext(work, 'rootfs'), join(work, 'l.tar'), tree, { what: 'layer', whiteouts: true })).rejects.toThrow(/'\.\.\/escape'/);
    expect(readdirSync(tree)).toEqual([]);
    expect(existsSync(join(host, 'keep'))).toBe(true);
  });

  test('a damaged archive is one line naming it, not a parser error', async () => {
    const work = tempDir('osb-extract-');
    const bad = craftTar([{ name: 'a', data: 'x' }]);
    bad[0] = 0x41; // the checksum no longer matches
    writeFileSync(join(work, 'l.tar'), bad);
    mkdirSync(join(work, 'tree'));
    await expect(extractTar(makeTestContext(work, 'rootfs'), join(work, 'l.tar'), join(work, 'tree'), { what: 'parent layer sha256:abc', whiteouts: true })).rejects.toThrow(/^parent layer sha256:abc is not a tar archive osb can read: header at byte 0 has a bad checksum/);
  });
});

describe('what OCI layers may do is done', () => {
  test('a later layer replaces a lower symlink with a directory: the directory is in the tree, nothing outside', async () => {
    const host = sentinel();
    const before = snapshot(host);
    const tree = await unpackLayers([[{ name: 'd', type: 'symlink', link: host }], [{ name: 'd', type: 'dir' }, { name: 'd/keep', data: 'guest' }]]);
    expect(lstatSync(join(tree, 'd')).isDirectory()).toBe(true);
    expect(readFileSync(join(tree, 'd/keep'), 'utf8')).toBe('guest');
    expect(snapshot(host)).toEqual(before);
  });

  test('symlinks may point anywhere; whiteouts and opaque whiteouts act on the layers below only', async () => {
    const tree = await unpackLayers([
      [{ name: 'etc', type: 'dir' }, { name: 'etc/hostname', data: 'h' }, { name: 'etc/a', type: 'dir' }, { name: 'etc/a/x', data: 'x' }, { name: 'opq', type: 'dir' }, { name: 'opq/old', data: 'o' }, { name: 'lib', type: 'symlink', link: '/usr/lib' }],
      [{ name: 'etc/.wh.hostname' }, { name: 'etc/.wh.a' }, { name: 'opq/new', data: 'n' }, { name: 'opq/.wh..wh..opq' }, { name: 'etc/.wh.absent' }],
    ]);
    expect(readdirSync(join(tree, 'etc'))).toEqual([]);
    expect(readdirSync(join(tree, 'opq'))).toEqual(['new']);
    expect(readlinkSync(join(tree, 'lib'))).toBe('/usr/lib');
  });
});

(isRoot ? describe : describe.skip)('a sound layer', () => {
  test('unpacks as GNU tar unpacks it: owners, modes, hard links, devices under dev/, fifos, file capabilities, non-UTF-8 names', async () => {
    const work = tempDir('osb-extract-');
    const src = join(work, 'src');
    for (const d of ['usr/bin', 'dev', 'run', 'srv']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'usr/bin/ping'), '#!/bin/sh\n');
    chmodSync(join(src, 'usr/bin/ping'), 0o4755);
    execFileSync('setcap', ['cap_net_raw,cap_setuid+ep', join(src, 'usr/bin/ping')]);
    execFileSync('ln', [join(src, 'usr/bin/ping'), join(src, 'usr/bin/ping6')]);
    symlinkSync('usr/bin', join(src, 'bin'));
    execFileSync('mknod', [join(src, 'dev/null'), 'c', '1', '3']);
    execFileSync('mkfifo', [join(src, 'run/fifo')]);
    writeFileSync(Buffer.from(`${src}/srv/caf\xe9`, 'latin1'), 'latin1 name');
    execFileSync('chown', ['-h', '1234:5678', join(src, 'srv')]);
    chmodSync(join(src, 'srv'), 0o1770);
    const layer = join(work, 'layer.tar.gz');
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-czf', layer, '-C', src, '.']);

    const ctx = makeTestContext(work, 'rootfs');
    const ours = join(work, 'ours');
    const gnu = join(work, 'gnu');
    mkdirSync(ours);
    mkdirSync(gnu);
    await extractTar(ctx, layer, ours, { what: 'layer', whiteouts: true });
    execFileSync('tar', ['-xzf', layer, '-C', gnu, '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*']);
    const stateOf = async (d: string) => treeState(d, ctx, await readXattrs(ctx, d));
    const got = await stateOf(ours);
    expect(got).toEqual(await stateOf(gnu));
    expect(Object.keys(got)).toEqual(expect.arrayContaining(['usr/bin/ping', 'usr/bin/ping6', 'dev/null', 'run/fifo', Buffer.from('srv/caf\xe9', 'latin1').toString('latin1')]));
    expect(execFileSync('getcap', [join(ours, 'usr/bin/ping')], { encoding: 'utf8' })).toMatch(/cap_setuid,cap_net_raw[=+]ep/);
  });

  test('a zstd layer reads the same as its gzip twin', async () => {
    const work = tempDir('osb-extract-');
    writeFileSync(join(work, 'l.tar'), craftTar([{ name: 'etc', type: 'dir' }, { name: 'etc/motd', data: 'hello\n' }]));
    execFileSync('zstd', ['-q', join(work, 'l.tar'), '-o', join(work, 'l.tar.zst')]);
    mkdirSync(join(work, 'tree'));
    const r = await extractTar(makeTestContext(work, 'rootfs'), join(work, 'l.tar.zst'), join(work, 'tree'), { what: 'layer', whiteouts: true });
    expect(r.members).toBe(2);
    expect(readFileSync(join(work, 'tree/etc/motd'), 'utf8')).toBe('hello\n');
  });
});
