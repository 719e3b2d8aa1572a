/**
 * `osb verify-repro`: two builds in fresh workdirs (another path, umask 077, every rootfs mtime
 * moved) give the same sha256 for the image (ext4 and erofs), the initrd and the OCI archive,
 * built from a fixture tree given with --rootfs-dir; a hook that writes the date is caught: exit
 * 1, naming the file it wrote.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

let dir: string;
let rootfs: string;
beforeAll(() => {
  dir = tempDir('osb-verify-repro-');
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

describe('osb verify-repro', () => {
  test.each([
    ['image', ['--fs-type', 'ext4', '--dax'], ['osb.img', 'osb.img.spdx.json', 'osb.img.intoto.json']],
    ['image', ['--fs-type', 'erofs', '--no-dax', '--measured-rootfs'], ['osb.img', 'root_hash.txt']],
    ['initrd', ['--agent-init', '--compression', 'zstd'], ['osb-initrd.img']],
    ['oci', ['--agent-init'], ['osb-oci.tar']],
  ])('%s %j is reproducible: exit 0, every artefact the same', (target, flags, files) => {
    const r = osb(['verify-repro', target, '--rootfs-dir', rootfs, '--workdir', join(dir, 'wd'), ...flags], { timeoutMs: 5 * 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of files) expect(r.stdout).toMatch(new RegExp(`^same {4}${f.replace(/\./g, '\\.')} [0-9a-f]{16} [0-9a-f]{16}$`, 'm'));
    expect(r.stdout).not.toMatch(/DIFFERS/);
    expect(r.stdout).toMatch(new RegExp(`${target} is reproducible`));
  }, 5 * 60_000);

  test('a hook that writes the date: exit 1, the artefact and the file named; both builds kept', () => {
    const hook = join(dir, 'date-hook.sh');
    writeFileSync(hook, '#!/bin/sh\ndate +%s%N > "$ROOTFS_DIR/etc/build-date"\n');
    chmodSync(hook, 0o755);
    const r = osb(['verify-repro', 'image', '--rootfs-dir', rootfs, '--hook', hook, '--fs-type', 'ext4', '--no-dax', '--workdir', join(dir, 'wd')], { timeoutMs: 5 * 60_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^DIFFERS osb\.img /m);
    expect(r.stdout).toMatch(/^rootfs file differs: \/etc\/build-date$/m);
    expect(r.stderr).toMatch(/image is not reproducible: osb\.img.* differ; rootfs files that differ: \/etc\/build-date/);
    const kept = /both builds are kept for inspection in (\S+)/.exec(r.stderr)?.[1];
    expect(kept && existsSync(join(kept, 'a', 'osb.img'))).toBeTruthy();
    rmSync(kept!, { recursive: true, force: true });
  }, 5 * 60_000);

  test('--dry-run says what it would do and builds nothing', () => {
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('osb-repro-')).length;
    const r = osb(['verify-repro', 'image', '--rootfs-dir', rootfs, '--dry-run', '--workdir', join(dir, 'wd-dry')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would build image twice/);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('osb-repro-')).length).toBe(before);
    expect(existsSync(join(dir, 'wd-dry'))).toBe(false);
  });

  test('a target it does not check is a usage error', () => {
    const r = osb(['verify-repro', 'kernel', '--workdir', join(dir, 'wd')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/verify-repro checks image, initrd, oci/);
  });
});
