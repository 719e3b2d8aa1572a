/**
 * `osb verify-repro` building the rootfs from the distro, both times: Debian from its archive
 * (mmdebstrap really runs twice; only the downloaded .debs are shared, from OSB_TEST_CACHE) and
 * Alpine from the test repository. osb runs under umask 077 and its second build under 077 too,
 * the first under 022: every mode in the trees must be osb's or the packages', never the umask's.
 * One verify-repro per distro checks initrd, image and oci at once, on the same two rootfs.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, OSB, type OsbResult } from '../helpers/cli.js';
import { isRoot } from '../helpers/fixture-rootfs.js';
import { TEST_CACHE, DEBIAN_MIRROR } from '../helpers/debian-rootfs.js';
import { buildTestRepo, serveRepo, type TestRepo } from '../rootfs-builder/apk/helpers/test-repo.js';

jest.setTimeout(20 * 60_000);

/** osb under `umask MASK` (a shell sets it: Node's child_process cannot). */
function osbUnderUmask(mask: string, args: readonly string[]): Promise<OsbResult> {
  return new Promise((done) => {
    const child = spawn('sh', ['-c', `umask ${mask} && exec "$@"`, 'sh', process.execPath, OSB, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const ARTEFACTS = ['osb-initrd.img', 'osb.img', 'osb-oci.tar', 'osb-initrd.img.spdx.json', 'osb.img.spdx.json', 'osb-oci.tar.spdx.json'];

function expectReproducible(r: OsbResult): void {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  for (const f of ARTEFACTS) expect(r.stdout).toMatch(new RegExp(`^same {4}${f.replace(/\./g, '\\.')} [0-9a-f]{16} [0-9a-f]{16}$`, 'm'));
  expect(r.stdout).not.toMatch(/DIFFERS/);
  expect(r.stdout).toMatch(/verify-repro: build 1 of 2 in .* \(umask 022\)/);
  expect(r.stdout).toMatch(/verify-repro: build 2 of 2 in .* \(umask 077\)/);
  expect(r.stdout).toMatch(/initrd, image, oci are reproducible/);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-verify-repro-slow-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

(isRoot ? describe : describe.skip)('osb verify-repro from the distro (needs root)', () => {
  test('Debian from the archive, bootstrapped twice, under umask 077: initrd, image and oci are the same bytes', async () => {
    const r = await osbUnderUmask('077', [
      'verify-repro', 'initrd', 'image', 'oci', '--distro', 'debian', '--agent-init', '--mirror', DEBIAN_MIRROR,
      '--workdir', join(dir, 'debian'), '--cache-dir', join(TEST_CACHE, 'osb-cache'),
    ]);
    expectReproducible(r);
    // The base tree is bootstrapped in each build, not taken from a cache the first one filled.
    expect(r.stdout.match(/bootstrapping the debian bookworm base \(amd64\) with mmdebstrap/g)).toHaveLength(2);
    expect(r.stdout).not.toMatch(/base tree from the cache/);
  });

  describe('Alpine from the test repository', () => {
    let repo: TestRepo;
    let server: Awaited<ReturnType<typeof serveRepo>>;
    beforeAll(async () => {
      repo = buildTestRepo(join(dir, 'alpine-repo'));
      server = await serveRepo(repo);
    });
    afterAll(async () => {
      await server?.close();
    });

    test('under umask 077: initrd, image and oci are the same bytes', async () => {
      const r = await osbUnderUmask('077', [
        'verify-repro', 'initrd', 'image', 'oci', '--distro', 'alpine', '--agent-init', '--mirror', `${server.url}/good`,
        '--keys-dir', repo.keysDir, '--workdir', join(dir, 'alpine'), '--cache-dir', join(repo.root, 'cache'),
      ]);
      expectReproducible(r);
      expect(r.stdout.match(/\(1\/\d+\) Installing /g)).toHaveLength(2);
    });
  });
});
