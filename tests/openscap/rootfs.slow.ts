/**
 * `osb rootfs --scap-datastream DS` (image-build's scap_benchmark): the finished Debian tree is
 * scanned before it replaces the rootfs, the ARF results and the HTML report land beside it, and
 * with --scap-fail a failed rule fails the build, naming it, and the previous rootfs stays.
 * Debian 12's ssg-debian has no Debian 12 data stream, so the tree is bullseye's.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SSG_CONTENT } from '../../openscap/index.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { DEBIAN_MIRROR, TEST_CACHE } from '../helpers/debian-rootfs.js';

afterAll(removeTempDirs);
const DS = join(SSG_CONTENT, 'ssg-debian11-ds.xml');
const wd = tempDir('osb-scap-rootfs-');
const args = (...more: string[]) => ['rootfs', '--distro', 'debian', '--os-version', 'bullseye', '--mirror', DEBIAN_MIRROR, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--workdir', wd, '--scap-datastream', DS, '--scap-profile', 'standard', ...more];

describe('osb rootfs with an OpenSCAP scan', () => {
  test('writes the ARF results and the HTML report beside the rootfs; oscap reads them back', () => {
    const r = osb(args(), { env: cleanEnv(), timeoutMs: 900_000 });
    expect(r.code).toBe(0);
    const m = /OpenSCAP: (\d+) rules pass, (\d+) fail/.exec(r.stdout);
    expect(m).not.toBeNull();
    const arf = join(wd, 'openscap.arf.xml');
    const html = join(wd, 'openscap.html');
    expect(statSync(html).size).toBeGreaterThan(10_000);
    // oscap's own reading of the results: the same number of failed rules.
    const report = execFileSync('oscap', ['xccdf', 'generate', 'report', arf], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(report).toContain('xccdf_org.ssgproject.content_profile_standard');
    const failed = (readFileSync(arf, 'utf8').match(/<result>fail<\/result>/g) ?? []).length;
    expect(Number(m![2])).toBe(failed);
    expect(failed).toBeGreaterThan(0);
  }, 900_000);

  test('--scap-fail: a failed rule fails the build, naming it, and the previous rootfs stays', () => {
    const before = statSync(join(wd, 'rootfs.manifest.json')).mtimeMs;
    const r = osb(args('--scap-fail', '--extra-pkgs', 'less'), { env: cleanEnv(), timeoutMs: 900_000 });
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/^osb: rootfs failed: .*xccdf_org\.ssgproject\.content_rule_\w+/);
    expect(statSync(join(wd, 'rootfs.manifest.json')).mtimeMs).toBe(before);
    expect(existsSync(join(wd, 'rootfs/usr/bin/less'))).toBe(false);
  }, 900_000);
});
