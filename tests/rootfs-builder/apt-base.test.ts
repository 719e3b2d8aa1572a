/**
 * The base-tree cache's key: what the base depends on moves it (archive state, package set,
 * slim, mirror, arch), what is installed on the copy (EXTRA_PKGS) does not. The archive state is
 * the sha256 of the signed InRelease, also from a file:// mirror.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { debian } from '../../distros/debian.js';
import { sha256 } from '../../lib/hash.js';
import { archiveState, baseSpec } from '../../rootfs-builder/engines/apt-base.js';
import type { BootstrapOptions } from '../../rootfs-builder/engines/types.js';
import { makeTestContext } from '../helpers/build-context.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-apt-base-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (over: Partial<BootstrapOptions> = {}): BootstrapOptions => ({
  distro: debian, release: 'bookworm', arch: 'x86_64', distroArch: 'amd64', mirror: 'http://deb.debian.org/debian',
  packages: ['less'], extraPackages: ['less'], target: '/nowhere', cacheDir: '/cache', repos: [], agentInit: true, slim: true, ...over,
});

describe('base-tree cache key', () => {
  test('extra packages do not move the key; the archive state, base set, slim, mirror and arch do', () => {
    const key = (o: Partial<BootstrapOptions>, state = 'state-1') => baseSpec(opts(o), state).key;
    const k = key({});
    expect(key({ packages: ['procps'], extraPackages: ['procps'] })).toBe(k);
    expect(baseSpec(opts(), 'state-1').packages).toEqual([]);
    expect(key({}, 'state-2')).not.toBe(k);
    expect(key({ packages: ['systemd', 'less'], extraPackages: ['less'] })).not.toBe(k);
    expect(key({ slim: false })).not.toBe(k);
    expect(key({ mirror: 'http://mirror.example.org/debian' })).not.toBe(k);
    expect(key({ distroArch: 'arm64', arch: 'aarch64' })).not.toBe(k);
    expect(baseSpec(opts(), 'state-1').dir).toMatch(/^\/cache\/base\/debian-bookworm-amd64-[0-9a-f]{16}$/);
  });

  test('the archive state is the sha256 of InRelease (or Release), also from a file:// mirror', async () => {
    const mirror = join(dir, 'mirror');
    mkdirSync(join(mirror, 'dists', 'bookworm'), { recursive: true });
    writeFileSync(join(mirror, 'dists', 'bookworm', 'Release'), 'Suite: bookworm\n');
    const ctx = makeTestContext(dir, 'rootfs');
    expect(await archiveState(ctx, pathToFileURL(mirror).href, 'bookworm')).toBe(sha256('Suite: bookworm\n'));
    writeFileSync(join(mirror, 'dists', 'bookworm', 'InRelease'), 'signed\n');
    expect(await archiveState(ctx, pathToFileURL(mirror).href, 'bookworm')).toBe(sha256('signed\n'));
    await expect(archiveState(ctx, pathToFileURL(mirror).href, 'trixie')).rejects.toThrow(/has no trixie/);
  });
});
