/**
 * `osb rootfs --parent oci-archive:FILE` with a crafted layer, as a user who builds on someone
 * else's image would run it: refused in one line naming the layer and the member, nothing outside
 * the tree changed, and the rootfs built before is as it was.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { craftOciArchive, type Member } from '../helpers/crafted-tar.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

let base: Buffer;
let wd: string;
let host: string;
let before: string;
const listing = (dir: string) => execFileSync('sh', ['-c', 'cd "$1" && find . -printf "%p %m %y %s\\n" | sort && find . -type f -exec sha256sum {} + | sort', 'sh', dir], { encoding: 'utf8' });

beforeAll(() => {
  if (!isRoot) return;
  const root = makeFixtureRootfs(join(tempDir('osb-escape-cli-'), 'rootfs'));
  base = execFileSync('tar', ['-c', '--numeric-owner', '-C', root, '.'], { maxBuffer: 256 << 20 });
  host = tempDir('osb-escape-host-');
  mkdirSync(join(host, 'sub'));
  writeFileSync(join(host, 'keep'), 'host file\n');
  writeFileSync(join(host, 'sub', 'inner'), 'host inner\n');
  wd = tempDir('osb-escape-wd-');
  const good = join(wd, 'good.tar');
  craftOciArchive(join(tempDir('osb-escape-layout-'), 'l'), good, [base]);
  const r = osb(['rootfs', '--workdir', wd, '--parent', `oci-archive:${good}`, '--agent-init']);
  if (r.code !== 0) throw new Error(r.stderr);
  before = listing(join(wd, 'rootfs'));
}, 120_000);
afterAll(removeTempDirs);

// Each shape is the layers above the sound base; the member named is in the last one.
const shapes: [string, (h: string) => Member[][], RegExp][] = [
  ['a symlink chain', (h) => [[{ name: 'x1', type: 'symlink', link: 'x2' }, { name: 'x2', type: 'symlink', link: h }, { name: 'x1/keep', data: 'evil' }]], /member 'x1\/keep' goes through the symlink x1/],
  ['a whiteout through a symlink', (h) => [[{ name: 'esc', type: 'symlink', link: h }], [{ name: 'esc/.wh.keep' }]], /'esc\/\.wh\.keep' goes through the symlink esc/],
  ['an opaque whiteout through a symlink', (h) => [[{ name: 'esc', type: 'symlink', link: `../../../../../../../..${h}` }], [{ name: 'esc/sub/.wh..wh..opq' }]], /'esc\/sub\/\.wh\.\.wh\.\.opq' goes through the symlink esc/],
  ["a '..' member", (h) => [[{ name: `../../../../../../../..${h}/keep`, data: 'evil' }]], /climbs out of the tree with '\.\.'/],
  ['an absolute member', (h) => [[{ name: `${h}/keep`, data: 'evil' }]], /is an absolute name/],
  ['a hard link out', (h) => [[{ name: 'etc/hl', type: 'hardlink', link: `${h}/keep` }]], /member 'etc\/hl' is a hard link whose target .* is an absolute name/],
  ['a symlink replaced by a directory, then written through a symlink again', (h) => [[{ name: 'etc/d', type: 'symlink', link: h }], [{ name: 'etc/d', type: 'dir' }, { name: 'etc/e', type: 'symlink', link: h }, { name: 'etc/e/keep', data: 'evil' }]], /member 'etc\/e\/keep' goes through the symlink etc\/e/],
  ['a device node', () => [[{ name: 'etc/disk', type: 'block', dev: [8, 0] }]], /member 'etc\/disk' is a block device \(8:0\) outside dev\//],
];

(isRoot ? describe : describe.skip)('osb rootfs --parent with a crafted layer', () => {
  test.each(shapes)('%s: refused in one line naming layer and member; host and previous rootfs untouched', (_what, layer, member) => {
    const hostBefore = listing(host);
    const file = join(tempDir('osb-escape-archive-'), 'evil.tar');
    const evil = craftOciArchive(join(tempDir('osb-escape-layout-'), 'l'), file, [base, ...layer(host)]).at(-1);
    const r = osb(['rootfs', '--workdir', wd, '--parent', `oci-archive:${file}`, '--agent-init']);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    if (lines.length > 2) console.log(r.stderr);
    expect(lines[0]).toMatch(new RegExp(`parent layer ${evil}: .*${member.source}`));
    expect(lines.length).toBeLessThanOrEqual(2); // the line, and what to do
    expect(listing(host)).toBe(hostBefore);
    expect(listing(join(wd, 'rootfs'))).toBe(before);
    expect(readdirSync(wd).filter((n) => /osb-(stage|tmp)/.test(n))).toEqual([]);
    expect(readFileSync(join(host, 'keep'), 'utf8')).toBe('host file\n');
  });
});

/**
 * A parent whose own links point at the host is not refused (a link is data in the guest), but
 * what osb then writes into the tree (the agent, its unit, Kata's osbuilder.yaml) follows them as
 * the guest would: inside the tree, never on the host, and never through the last name.
 */
(isRoot ? describe : describe.skip)('osb rootfs --parent whose links point at the host', () => {
  test.each([true, false])('--agent-init %s: the agent and osbuilder.yaml land inside the tree, the host is untouched', (agentInit) => {
    const hostBefore = listing(host);
    const file = join(tempDir('osb-escape-archive-'), 'links.tar');
    craftOciArchive(join(tempDir('osb-escape-layout-'), 'l'), file, [
      base,
      [
        { name: 'usr/bin', type: 'symlink', link: `../../../../../../..${host}` },
        { name: 'sbin/init', type: 'symlink', link: `${host}/keep` },
        { name: 'var/lib/osbuilder', type: 'symlink', link: `${host}/sub` },
        { name: 'etc/systemd/system', type: 'symlink', link: host },
      ],
    ]);
    const linkWd = tempDir('osb-escape-links-wd-');
    const r = osb(['rootfs', '--workdir', linkWd, '--parent', `oci-archive:${file}`, ...(agentInit ? ['--agent-init'] : []), '--allow-empty']);
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.code).toBe(0);
    expect(listing(host)).toBe(hostBefore);
    const tree = join(linkWd, 'rootfs');
    // usr/bin leads (as the guest sees it) to the tree's own copy of the host's path.
    expect(readFileSync(join(tree, host, 'osb-agent'), 'utf8')).toMatch(/^#!/);
    expect(readFileSync(join(tree, host, 'sub', 'osbuilder.yaml'), 'utf8')).toMatch(/osbuilder-version: osb/);
    if (agentInit) expect(lstatSync(join(tree, 'sbin/init')).isFile()).toBe(true);
    else expect(readFileSync(join(tree, host, 'osb-agent.service'), 'utf8')).toMatch(/ExecStart=\/usr\/bin\/osb-agent/);
  });
});

/** A dpkg status stanza of one installed package. */
const dpkgStatus = (name: string) => `Package: ${name}\nStatus: install ok installed\nMaintainer: nobody\nArchitecture: amd64\nVersion: 1.0\nDescription: ${name}\n\n`;

(isRoot ? describe : describe.skip)("osb rootfs --parent whose package database is a link to the host's", () => {
  test('the manifest and the SBOM list the packages of the tree, not those of the host file the link names', () => {
    // On the host, the link's target lists a package only the host has; inside the tree, the same
    // path holds the tree's own database.
    writeFileSync(join(host, 'status'), dpkgStatus('host-only-package'));
    const file = join(tempDir('osb-escape-archive-'), 'dpkg.tar');
    craftOciArchive(join(tempDir('osb-escape-layout-'), 'l'), file, [
      base,
      [
        { name: 'var/lib/dpkg', type: 'dir' },
        { name: `${host.slice(1)}/status`, data: dpkgStatus('tree-package') },
        { name: 'var/lib/dpkg/status', type: 'symlink', link: `${host}/status` },
      ],
    ]);
    const dpkgWd = tempDir('osb-escape-dpkg-wd-');
    const r = osb(['rootfs', '--workdir', dpkgWd, '--parent', `oci-archive:${file}`, '--distro', 'debian', '--agent-init']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dpkgWd, 'rootfs.manifest.json'), 'utf8')) as { packages: { name: string }[] };
    expect(manifest.packages.map((p) => p.name)).toEqual(['tree-package']);
    expect(readFileSync(join(dpkgWd, 'rootfs.spdx.json'), 'utf8')).not.toMatch(/host-only-package/);
    // dpkg-query's own database (a copy of the tree's status file) is gone.
    expect(readdirSync(dpkgWd).filter((n) => /dpkg|osb-tmp/.test(n))).toEqual([]);
  });
});
