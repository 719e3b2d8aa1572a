/**
 * The base-tree cache: a Debian rootfs is the distro's base (bootstrapped once per archive state
 * and kept in the cache) plus EXTRA_PKGS installed on a copy. A build through the cached base
 * gives the same tree as a cold one: every name, type, mode, owner, link target and content,
 * apart from the files listed in IGNORED (caches that record when they were written).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { osb } from '../helpers/cli.js';
import { snapshot } from '../initrd-builder/helpers.js';

jest.setTimeout(20 * 60_000);

/** Files a package install writes with the time in them; everything else must be equal. */
const IGNORED = new Set(['var/cache/ldconfig/aux-cache', 'var/cache/debconf/config.dat-old', 'var/cache/debconf/templates.dat-old']);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-base-cache-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const build = (wd: string, extra: string) => {
  const r = osb(['rootfs', '--agent-init', '--extra-pkgs', extra, '--workdir', join(dir, wd), '--cache-dir', join(dir, 'cache')]);
  if (r.code !== 0) throw new Error(`osb rootfs failed:\n${r.stdout}\n${r.stderr}`);
  return { ...r, log: readFileSync(join(dir, wd, 'logs', 'rootfs.log'), 'utf8') };
};

const tree = (wd: string) => {
  const snap = snapshot(join(dir, wd, 'rootfs'));
  const out = new Map<string, unknown>();
  for (const [name, seen] of snap) if (!IGNORED.has(name)) out.set(name, { ...seen, mtime: undefined });
  return out;
};

describe('the base-tree cache (Debian, as root)', () => {
  test('cold, then through the cached base with the same packages: the same tree; a package change installs only on the copy', () => {
    const cold = build('cold', 'less');
    expect(cold.log).toMatch(/^\+ mmdebstrap .*--skip=cleanup\/apt\/lists/m);
    const bases = readdirSync(join(dir, 'cache', 'base'));
    expect(bases).toEqual([expect.stringMatching(/^debian-bookworm-amd64-[0-9a-f]{16}$/)]);

    const cached = build('cached', 'less');
    expect(cached.log).not.toMatch(/^\+ mmdebstrap /m);
    expect(cached.stdout).toContain('base tree from the cache');
    const [a, b] = [tree('cold'), tree('cached')];
    expect([...b.keys()]).toEqual([...a.keys()]);
    const differ = [...a.keys()].filter((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k)));
    expect(differ).toEqual([]);
    expect(existsSync(join(dir, 'cached', 'rootfs', 'usr/bin/less'))).toBe(true);

    // Another EXTRA_PKGS: no bootstrap, apt installs only the new package on the copied base.
    const changed = build('cached', 'procps');
    expect(changed.log).not.toMatch(/^\+ mmdebstrap /m);
    expect(changed.log).toMatch(/^\+ unshare --mount /m);
    expect(changed.log).toMatch(/osb-install-extras(?: \S+){7} procps$/m);
    expect(existsSync(join(dir, 'cached', 'rootfs', 'usr/bin/ps'))).toBe(true);
    expect(existsSync(join(dir, 'cached', 'rootfs', 'usr/bin/less'))).toBe(false);
    // Package lists stay in the cached base, never in a rootfs.
    expect(readdirSync(join(dir, 'cached', 'rootfs', 'var/lib/apt/lists')).filter((n) => n !== 'partial' && n !== 'lock')).toEqual([]);
  });
});
