/**
 * osb oci against the real tools: skopeo reads the layout and the archives, umoci unpacks the
 * layout into the same tree as the rootfs, and the digests are fixed by the inputs.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildOci, type OciOptions } from '../../oci-builder/index.js';
import { recordingReporter, removeTempDirs, SDE, tempDir } from '../helpers/build-context.js';
import { LONG_PATH, inodes, makeCtx, makeRichRootfs, readLayout, snapshot, xattrDump } from './helpers.js';

afterAll(removeTempDirs);

let rootfs: string;
beforeAll(() => {
  rootfs = makeRichRootfs(join(tempDir('osb-oci-src-'), 'rootfs'));
});

function options(dir: string, o: Partial<OciOptions> = {}): OciOptions {
  return {
    rootfsDir: rootfs,
    layoutDir: join(dir, 'osb-oci'),
    archivePath: join(dir, 'osb-oci.tar'),
    ref: 'localhost/osb-test:1',
    arch: 'x86_64',
    cmd: ['/sbin/init'],
    ...o,
  };
}

const skopeo = (...args: string[]) => JSON.parse(execFileSync('skopeo', ['inspect', ...args], { encoding: 'utf8' }));

describe('osb oci: layout and archives', () => {
  let dir: string;
  let digest: string;
  beforeAll(async () => {
    dir = tempDir();
    const r = await buildOci(makeCtx(dir), options(dir, { dockerArchivePath: join(dir, 'osb-docker.tar'), labels: { 'com.example.team': 'guests' }, annotations: { 'com.example.note': 'hello' }, toolbox: true }));
    digest = r!.manifestDigest;
  });

  test('skopeo inspects the layout, the oci-archive and the docker-archive', () => {
    const layout = skopeo(`oci:${join(dir, 'osb-oci')}:localhost/osb-test:1`);
    expect(layout.Digest).toBe(digest);
    expect(layout.Architecture).toBe('amd64');
    expect(layout.Os).toBe('linux');
    expect(skopeo(`oci-archive:${join(dir, 'osb-oci.tar')}`).Digest).toBe(digest);
    const docker = skopeo(`docker-archive:${join(dir, 'osb-docker.tar')}`);
    expect(docker.Layers).toHaveLength(1);
    expect(docker.Labels['com.example.team']).toBe('guests');
  });

  test('index, manifest and config carry the reference, labels, annotations, Cmd and Env', () => {
    const { index, manifest, config } = readLayout(join(dir, 'osb-oci'));
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('localhost/osb-test:1');
    expect(manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const created = new Date(SDE * 1000).toISOString().replace('.000Z', 'Z');
    expect(manifest.annotations).toEqual({ 'org.opencontainers.image.created': created, 'org.opencontainers.image.version': '1', 'com.example.note': 'hello' });
    expect(config.created).toBe(created);
    expect(config.config.Cmd).toEqual(['/sbin/init']);
    expect(config.config.Env[0]).toMatch(/^PATH=/);
    expect(config.config.Labels).toMatchObject({ 'com.github.containers.toolbox': 'true', 'com.example.team': 'guests', 'org.opencontainers.image.created': created });
    expect(readFileSync(join(dir, 'osb-oci', 'oci-layout'), 'utf8')).toBe('{"imageLayoutVersion":"1.0.0"}');
  });

  test('umoci unpack gives the rootfs back: types, modes, owners, link targets, content, hard links, capabilities', () => {
    const out = join(dir, 'unpacked');
    execFileSync('umoci', ['unpack', '--image', `${join(dir, 'osb-oci')}:localhost/osb-test:1`, out]);
    const want = snapshot(rootfs);
    expect(snapshot(join(out, 'rootfs'))).toEqual(want);
    // Every kind the issue names is in that comparison; make sure the fixture really has them.
    const kinds = [...want.values()].map((v) => v.split(' ')[0]!.slice(0, -4));
    for (const k of ['2', '1', '12', '10', '4']) expect(kinds).toContain(k); // char, fifo, symlink, file, dir
    expect(want.get('var/lib/data/setuid-tool')).toMatch(/^104755 /);
    expect(want.get('var/lib/data/fifo')).toMatch(/^10644 1000:1000/);
    expect(want.get(LONG_PATH)).toBeDefined();
    expect(LONG_PATH.length).toBe(150);
    const [a, b] = inodes(join(out, 'rootfs'), 'var/lib/data/hello.txt', 'var/lib/data/hello-link.txt');
    expect(a).toBe(b);
    expect(xattrDump(join(out, 'rootfs'))).toBe(xattrDump(rootfs));
    expect(xattrDump(rootfs)).toContain('security.capability=0x0100000280200000');
  });

  test('GNU tar reads the layer: sorted names, numeric owners without names, mtimes clamped', () => {
    const { manifest, blob } = readLayout(join(dir, 'osb-oci'));
    const list = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', blob(manifest.layers[0].digest)], { encoding: 'utf8' }).trim().split('\n');
    const names = list.map((l) => l.replace(/^(\S+\s+){5}/, '').replace(/ (->|link to) .*$/, '').replace(/\/$/, ''));
    expect(names).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(names).toContain(LONG_PATH);
    const when = new Date(SDE * 1000).toISOString().slice(0, 19).replace('T', ' ');
    for (const l of list) expect(l).toContain(when);
    const raw = gunzipSync(readFileSync(blob(manifest.layers[0].digest)));
    // uname/gname (offsets 265 and 297 of each header) are empty in every header.
    for (let off = 0; off + 512 <= raw.length && raw[off] !== 0; ) {
      expect(raw.subarray(off + 265, off + 265 + 64).every((b) => b === 0)).toBe(true);
      const size = parseInt(raw.toString('latin1', off + 124, off + 135), 8);
      off += 512 + Math.ceil(size / 512) * 512;
    }
  });
});

describe('osb oci: reproducible', () => {
  test('the same manifest digest twice, and from a copy of the tree with other mtimes', async () => {
    const a = tempDir();
    const b = tempDir();
    const c = tempDir();
    const first = await buildOci(makeCtx(a), options(a));
    const second = await buildOci(makeCtx(b), options(b));
    expect(second!.manifestDigest).toBe(first!.manifestDigest);
    const copy = join(c, 'copy');
    execFileSync('cp', ['-a', rootfs, copy]);
    execFileSync('find', [copy, '-exec', 'touch', '-h', '-d', '2030-01-01', '{}', '+']);
    const third = await buildOci(makeCtx(c), options(c, { rootfsDir: copy }));
    expect(third!.manifestDigest).toBe(first!.manifestDigest);
    expect(readFileSync(join(c, 'osb-oci.tar'))).toEqual(readFileSync(join(a, 'osb-oci.tar')));
  });

  test('zstd layers: the zstd media type, the same diff_id as gzip, and zstd reads the blob', async () => {
    const g = tempDir();
    const z = tempDir();
    const gz = await buildOci(makeCtx(g), options(g));
    const zs = await buildOci(makeCtx(z), options(z, { compression: 'zstd' }));
    const { manifest, config, blob } = readLayout(join(z, 'osb-oci'));
    expect(manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(zs!.diffId).toBe(gz!.diffId);
    expect(config.rootfs.diff_ids).toEqual([gz!.diffId]);
    const tar = execFileSync('zstd', ['-dc', blob(manifest.layers[0].digest)], { maxBuffer: 1 << 28 });
    expect(`sha256:${(await import('node:crypto')).createHash('sha256').update(tar).digest('hex')}`).toBe(gz!.diffId);
    expect(skopeo(`oci:${join(z, 'osb-oci')}:localhost/osb-test:1`).Digest).toBe(zs!.manifestDigest);
  });
});

describe('osb oci: dry run and bad input', () => {
  test('--dry-run writes nothing and says what it would write', async () => {
    const dir = tempDir();
    const rep = recordingReporter();
    const r = await buildOci(makeCtx(dir, { dryRun: true, reporter: rep }), options(dir, { compression: 'zstd' }));
    expect(r).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
    expect(rep.lines.join('\n')).toMatch(/would write .*osb-oci.*zstd layer/);
    expect(rep.lines.join('\n')).toMatch(/would run: zstd -T0/);
  });

  test.each([
    ['an invalid reference', { ref: 'Local Host/osb' }, /invalid image reference 'Local Host\/osb'/],
    ['an upper-case repository', { ref: 'localhost/OSB:1' }, /invalid image reference/],
    ['a tag that is too long', { ref: `localhost/osb:${'x'.repeat(129)}` }, /invalid image reference/],
    ['an unknown compression', { compression: 'bzip2' as 'gzip' }, /unknown OCI layer compression "bzip2"/],
    ['a missing rootfs', { rootfsDir: '/nonexistent/rootfs' }, /rootfs directory \/nonexistent\/rootfs does not exist/],
  ])('%s: one error line, nothing written', async (_what, o, message) => {
    const dir = tempDir();
    await expect(buildOci(makeCtx(dir), options(dir, o))).rejects.toThrow(message);
    expect(readdirSync(dir).filter((n) => n !== 'logs')).toEqual([]);
  });

  test('a layout directory osb did not create is not replaced', async () => {
    const dir = tempDir();
    execFileSync('mkdir', ['-p', join(dir, 'osb-oci')]);
    execFileSync('touch', [join(dir, 'osb-oci', 'precious')]);
    await expect(buildOci(makeCtx(dir), options(dir))).rejects.toThrow(/refusing to replace/);
    expect(existsSync(join(dir, 'osb-oci', 'precious'))).toBe(true);
    expect(existsSync(join(dir, 'osb-oci.tar'))).toBe(false);
    expect(statSync(join(dir, 'osb-oci')).isDirectory()).toBe(true);
  });
});
