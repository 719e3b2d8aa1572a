/**
 * The oci, bundle and squashfs targets through the built CLI (run `npm run build` first): up to
 * date by inputs, bad input gets one line and exit 2 or 1, an interrupt leaves nothing under the
 * final names.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb, osbSpawn } from '../helpers/cli.js';
import { readLayout } from './helpers.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

afterAll(removeTempDirs);

let rootfs: string;
beforeAll(() => {
  rootfs = makeFixtureRootfs(join(tempDir('osb-oci-cli-'), 'rootfs'));
});

const outputsIn = (wd: string) => (existsSync(wd) ? readdirSync(wd).filter((n) => !n.startsWith('.') && /osb-(oci|docker|bundle)|squashfs/.test(n)) : []);

describe('osb oci, bundle, squashfs on the command line', () => {
  test('each builds, then is up to date; a changed setting rebuilds only what reads it', () => {
    const wd = tempDir();
    const args = ['--no-deps', '--rootfs-dir', rootfs, '--workdir', wd];
    for (const t of ['oci', 'bundle', 'squashfs']) {
      const r = osb([t, ...args]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expect(outputsIn(wd).sort()).toEqual(['osb-bundle', 'osb-bundle.tar', 'osb-oci', 'osb-oci.tar', 'osb-oci.tar.intoto.json', 'osb-oci.tar.spdx.json', 'osb-squashfs-boot.img', 'osb.squashfs']);
    expect(osb(['explain', 'oci', ...args]).stdout).toMatch(/^oci is up to date/m);
    expect(osb(['explain', 'squashfs', ...args]).stdout).toMatch(/^squashfs is up to date/m);
    const changed = osb(['explain', 'oci', ...args, '--oci-ref', 'localhost/other:2']).stdout;
    expect(changed).toMatch(/^oci would rebuild:\n {2}- .*ociRef/m);
    expect(osb(['explain', 'bundle', ...args, '--oci-ref', 'localhost/other:2']).stdout).toMatch(/^bundle is up to date/m);
  });

  test('the boot initrd is rebuilt only when busybox, its /init or SOURCE_DATE_EPOCH change', () => {
    const wd = tempDir();
    const args = ['squashfs', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd];
    expect(osb(args).code).toBe(0);
    const boot = join(wd, 'osb-squashfs-boot.img');
    const first = statSync(boot).mtimeMs;
    const again = osb([...args, '--force']);
    expect(again.stdout).toMatch(/osb-squashfs-boot\.img is up to date/);
    expect(statSync(boot).mtimeMs).toBe(first);
    const other = osb([...args, '--source-date-epoch', '1700000001']);
    expect(other.stdout).toMatch(/wrote \S+osb-squashfs-boot\.img/);
  });

  test('--docker-archive adds osb-docker.tar; osb help lists the commands', () => {
    const wd = tempDir();
    expect(osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--docker-archive', '--label', 'a=b', '--annotation', 'c=d', '--toolbox']).code).toBe(0);
    expect(existsSync(join(wd, 'osb-docker.tar'))).toBe(true);
    const help = osb(['help']).stdout;
    for (const c of ['oci', 'bundle', 'squashfs']) expect(help).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    expect(help).toContain('--oci-compression gzip|zstd');
  });

  test('in CI, the source and revision labels come from the CI; a new commit rebuilds the image', () => {
    const wd = tempDir();
    const args = ['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd];
    const ci = (sha: string) => cleanEnv({ GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'example/guest', GITHUB_SHA: sha });
    expect(osb(args, { env: ci('1111111') }).code).toBe(0);
    const { config, manifest } = readLayout(join(wd, 'osb-oci'));
    for (const meta of [config.config.Labels, manifest.annotations]) {
      expect(meta['org.opencontainers.image.source']).toBe('https://github.com/example/guest');
      expect(meta['org.opencontainers.image.revision']).toBe('1111111');
    }
    expect(osb(['explain', 'oci', ...args.slice(1)], { env: ci('1111111') }).stdout).toMatch(/^oci is up to date/m);
    expect(osb(['explain', 'oci', ...args.slice(1)], { env: ci('2222222') }).stdout).toMatch(/input changed: image revision/);
    const noCi = Object.fromEntries(Object.entries(cleanEnv()).filter(([k]) => !/^(GITHUB_|CI_)/.test(k)));
    expect(osb(['explain', 'oci', ...args.slice(1)], { env: noCi }).stdout).toMatch(/input changed: image (source|revision)/);
  });

  test('--dry-run writes nothing', () => {
    const wd = join(tempDir(), 'wd');
    for (const t of ['oci', 'bundle', 'squashfs']) {
      const r = osb([t, '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--dry-run']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/would/);
    }
    expect(existsSync(wd)).toBe(false);
  });

  test.each([
    ['an invalid reference', ['oci', '--oci-ref', 'Not/Valid:'], 2, /^osb: invalid image reference 'Not\/Valid:'/],
    ['an invalid tag', ['oci', '--oci-ref', 'localhost/osb:-bad'], 2, /^osb: invalid image reference/],
    ['an unknown layer compression', ['oci', '--oci-compression', 'bzip2'], 2, /^osb: --oci-compression must be one of gzip, zstd; got 'bzip2'/],
    ['an unknown squashfs compression', ['squashfs', '--squashfs-compression', 'zip'], 2, /^osb: --squashfs-compression must be one of/],
    ['a label without =', ['oci', '--label', 'novalue'], 2, /^osb: --label expects KEY=VALUE; got 'novalue'/],
    ['a missing rootfs with --no-deps (oci)', ['oci', '--rootfs-dir', '/nonexistent/rootfs'], 1, /^osb: oci needs rootfs, which is missing/],
    ['a missing rootfs with --no-deps (bundle)', ['bundle', '--rootfs-dir', '/nonexistent/rootfs'], 1, /^osb: bundle needs rootfs, which is missing/],
    ['a missing rootfs with --no-deps (squashfs)', ['squashfs', '--rootfs-dir', '/nonexistent/rootfs'], 1, /^osb: squashfs needs rootfs, which is missing/],
  ])('%s: one line, exit 2 (usage) or 1, nothing written', (_what, args, code, line) => {
    const wd = tempDir();
    const r = osb([...args, '--no-deps', ...(args.includes('--rootfs-dir') ? [] : ['--rootfs-dir', rootfs]), '--workdir', wd]);
    expect(r.code).toBe(code);
    expect(errorLine(r.stderr)).toMatch(line);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('osb: ') && !l.startsWith('osb: hint:'))).toHaveLength(1);
    expect(outputsIn(wd)).toEqual([]);
  });

  test('an interrupt during the layer write: exit 130, nothing under the final names, no staging left', async () => {
    const big = join(tempDir('osb-oci-big-'), 'rootfs');
    makeFixtureRootfs(big);
    // Incompressible data, so the layer write takes seconds.
    execFileSync('sh', ['-c', `head -c 200000000 /dev/urandom > '${join(big, 'var/lib/data/blob')}'`]);
    const wd = tempDir();
    const child = osbSpawn(['oci', '--no-deps', '--rootfs-dir', big, '--workdir', wd]);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    let layer: string | undefined;
    for (let i = 0; i < 600 && !layer; i++) {
      await sleep(50);
      const stage = readdirSync(wd).find((n) => n.startsWith('.osb-oci.osb-tmp-'));
      if (stage && existsSync(join(wd, stage, 'blobs', 'sha256', '.layer'))) layer = join(wd, stage, 'blobs', 'sha256', '.layer');
    }
    expect(layer).toBeDefined();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/interrupted by SIGINT/);
    expect(outputsIn(wd)).toEqual([]);
    expect(readdirSync(wd).filter((n) => n.includes('osb-tmp') || n.includes('osb-old'))).toEqual([]);
  });
});
