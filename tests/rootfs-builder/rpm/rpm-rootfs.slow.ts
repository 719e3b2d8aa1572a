/**
 * `osb rootfs` for the RPM distros through the CLI, from real signed rpm-md repositories served
 * on 127.0.0.1 (bench/rpm-repo.ts): dnf for fedora, centos, rocky, openeuler and azurelinux,
 * zypper for opensuse, dnf with --allow-unsigned for clearlinux. No mock of dnf, zypper or rpm.
 * Then every way a repository can be wrong, each refused in one line with the previous rootfs
 * left as it was; non-root refused before any download; the host and the tree left clean.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv } from '../../helpers/cli.js';
import { AGENT_SCRIPT, isRoot } from '../../helpers/fixture-rootfs.js';
import { buildRpmTestRepos, DISTRO_LAYOUT, listTree, rootfsArgs, rpmQa, runOsb, serveRpmRepos, type RpmTestRepos, type Served } from './helpers.js';

jest.setTimeout(15 * 60_000);

let repos: RpmTestRepos;
let server: Served;
let scratch: string;
let hostEtc: string[];
let hostLog: string | undefined;
const zypperLog = '/var/log/zypper.log';
const logStamp = () => (existsSync(zypperLog) ? `${statSync(zypperLog).size}/${statSync(zypperLog).mtimeMs}` : undefined);
const mirror = (variant = 'good') => `${server.url}/${variant}`;
const wdOf = (name: string) => join(scratch, name);
const failed = (r: { code: number | null; stderr: string }) => {
  expect(r.code).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('osb: rootfs failed: '));
  expect(lines).toHaveLength(1);
  return lines[0]!.slice('osb: rootfs failed: '.length);
};

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'osb-rpm-'));
  repos = buildRpmTestRepos(join(scratch, 'repos'));
  server = await serveRpmRepos(repos);
  hostEtc = listTree('/etc');
  hostLog = logStamp();
});
afterAll(async () => {
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

(isRoot ? describe : describe.skip)('osb rootfs --agent-init from the test repositories', () => {
  const cases = Object.entries(DISTRO_LAYOUT);
  test.each(cases)('%s: agent as init, scriptlet ran chrooted, every package in rpm -qa and the manifest, a group and an extra repository', async (distro, layout) => {
    const wd = wdOf(distro);
    server.requests.length = 0;
    const r = await runOsb(rootfsArgs(distro, wd, mirror(), repos, ['--package-groups', layout.group, '--extra-pkgs', 'osb-hello', '--repo', `${mirror('extra')}/,${repos.extraKey}`]));
    if (r.code !== 0) throw new Error(`osb failed:\n${r.stdout}\n${r.stderr}\n${readFileSync(join(wd, 'logs/rootfs.log'), 'utf8')}`);
    const root = join(wd, 'rootfs');
    // The distro's own repository layout under --mirror.
    expect(server.requests).toContain(layout.repomd('good'));
    // The agent is /sbin/init (through the filesystem package's sbin -> usr/sbin).
    expect(readFileSync(join(root, 'sbin/init'), 'utf8')).toBe(readFileSync(AGENT_SCRIPT, 'utf8'));
    expect(statSync(join(root, 'sbin/init')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(root, 'usr/bin/busybox')).equals(readFileSync('/usr/bin/busybox'))).toBe(true);
    // %post ran chrooted into the tree, as root: it read the tree's os-release and made the applet links.
    expect(readFileSync(join(root, 'var/lib/osb-test/busybox-post'), 'utf8')).toBe('busybox post: ID=osbtest arg=1 uid=0\n');
    for (const applet of ['bin/mount', 'bin/cat', 'usr/bin/cut', 'sbin/poweroff']) expect(readlinkSync(join(root, applet))).toBe('/usr/bin/busybox');
    // The group (comps group / pattern) and the extra repository's package are installed.
    expect(readFileSync(join(root, 'usr/share/osb-extra/hello.txt'), 'utf8')).toBe('hello from osb-extra\n');
    expect(readFileSync(join(root, 'usr/share/osb-hello/hello.txt'), 'utf8')).toBe('hello from osb-hello\n');
    // The database is where the target's rpm reads it; rpm --root -qa lists every package.
    expect(existsSync(join(root, layout.dbpath, 'rpmdb.sqlite'))).toBe(true);
    expect(existsSync(join(root, 'root/.rpmdb'))).toBe(false);
    const qa = rpmQa(root, layout.dbpath);
    const names = qa.map((l) => l.split(' ')[0]);
    expect(names.filter((n) => n !== 'gpg-pubkey')).toEqual(
      ['busybox', 'filesystem', 'osb-extra', 'osb-hello', ...(distro === 'opensuse' ? ['patterns-osb-tools'] : [])].sort(),
    );
    expect(names.filter((n) => n === 'gpg-pubkey').length).toBeGreaterThanOrEqual(3); // the distro's, the test key, the extra repo's
    const m = JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8'));
    expect(m).toMatchObject({ distro, arch: 'x86_64', agentInit: true, extraPackages: ['osb-hello'], packageGroups: [layout.group] });
    expect(m.packages.map((p: { name: string; version: string; arch: string }) => `${p.name} ${p.version} ${p.arch}`).sort()).toEqual(qa);
    expect(m.packages.find((p: { name: string }) => p.name === 'busybox')).toEqual({ name: 'busybox', version: '1.0-1', arch: 'x86_64' });
    // No dnf or zypper logs, caches, history or pid files in the tree, and no stray cache path.
    const leftovers = listTree(root, (p) => p.startsWith(join(root, 'proc')))
      .map((p) => p.slice(root.length))
      .filter((p) => /dnf|zypp|hawkey|librepo|\.solv/.test(p) || p.startsWith(scratch) || p.startsWith('/tmp/'));
    expect(leftovers).toEqual([]);
    expect(readFileSync(join(root, 'etc/resolv.conf'), 'utf8')).toBe('');
    expect(statSync(join(root, 'dev/null')).isCharacterDevice()).toBe(true); // for real scriptlets' >/dev/null
  });

  test.each(['fedora', 'opensuse'])('%s: a rebuild after an input change (and a hook) takes every package from the cache', async (distro) => {
    server.requests.length = 0;
    // A hook runs against the staged tree (ROOTFS_DIR), after the packages, as for every distro.
    const hook = join(scratch, `hook-${distro}.sh`);
    writeFileSync(hook, '#!/bin/sh\nset -e\nls "$ROOTFS_DIR/usr/bin/busybox" > "$ROOTFS_DIR/etc/osb-hook-saw-busybox"\n', { mode: 0o755 });
    // The workdir remembers the first build's extra package and repository: this build says it has none.
    const r = await runOsb(rootfsArgs(distro, wdOf(distro), mirror(), repos, ['--package-groups', DISTRO_LAYOUT[distro]!.group, '--hook', hook, '--extra-pkgs=', '--repo=']));
    expect(r.code).toBe(0);
    expect(readFileSync(join(wdOf(distro), 'rootfs/etc/osb-hook-saw-busybox'), 'utf8')).toMatch(/usr\/bin\/busybox\n$/);
    expect(server.requests.filter((u) => u.endsWith('repomd.xml')).length).toBeGreaterThan(0); // metadata re-checked
    expect(server.requests.filter((u) => u.endsWith('.rpm'))).toEqual([]);
    expect(existsSync(join(wdOf(distro), 'rootfs/usr/share/osb-hello'))).toBe(false);
    expect(readdirSync(join(wdOf(distro), 'cache', distro === 'fedora' ? 'dnf' : 'zypp')).length).toBeGreaterThan(0);
  });

  test('osb explain names the RPM settings that would rebuild the rootfs', async () => {
    const args = rootfsArgs('fedora', wdOf('fedora'), mirror(), repos, ['--package-groups', DISTRO_LAYOUT.fedora!.group, '--hook', join(scratch, 'hook-fedora.sh')]);
    const same = await runOsb(['explain', ...args]);
    expect(same.stdout + same.stderr).toContain('rootfs is up to date');
    const changed = await runOsb(['explain', ...args, '--repo', `${mirror('extra')}/,${repos.extraKey}`]);
    expect(changed.stdout + changed.stderr).toContain('input changed: setting repo');
  });

  test.each(['centos', 'opensuse'])('%s without --agent-init: the distro\'s systemd packages, the agent started by its enabled unit', async (distro) => {
    const wd = wdOf(`${distro}-systemd`);
    const r = await runOsb(rootfsArgs(distro, wd, mirror(), repos).filter((a) => a !== '--agent-init'));
    if (r.code !== 0) throw new Error(`osb failed:\n${r.stdout}\n${r.stderr}\n${readFileSync(join(wd, 'logs/rootfs.log'), 'utf8')}`);
    const root = join(wd, 'rootfs');
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/osb-agent.service'))).toBe('/etc/systemd/system/osb-agent.service');
    expect(readlinkSync(join(root, 'sbin/init'))).toBe('/usr/bin/busybox'); // busybox's applet link, not the agent
    expect(readFileSync(join(root, 'usr/bin/osb-agent'), 'utf8')).toBe(readFileSync(AGENT_SCRIPT, 'utf8'));
    const names = rpmQa(root, DISTRO_LAYOUT[distro]!.dbpath).map((l) => l.split(' ')[0]);
    expect(names).toContain('systemd');
    const log = readFileSync(join(wd, 'logs/rootfs.log'), 'utf8');
    expect(log).toMatch(distro === 'opensuse' ? /\+ zypper .* install .*bash coreutils filesystem systemd udev util-linux\n/ : /\+ dnf .* install bash coreutils filesystem systemd systemd-udev util-linux-core\n/);
  });

  test('clearlinux is refused without --allow-unsigned, before any download', async () => {
    server.requests.length = 0;
    const r = await runOsb(rootfsArgs('clearlinux', wdOf('clear'), mirror('unsigned'), repos));
    expect(failed(r)).toBe("clearlinux's packages are not signed, so osb cannot verify them");
    expect(r.stderr).toContain('osb: hint: add --allow-unsigned');
    expect(server.requests).toEqual([]);
    expect(existsSync(join(wdOf('clear'), 'rootfs'))).toBe(false);
  });

  test('clearlinux with --allow-unsigned installs the unsigned repository', async () => {
    const r = await runOsb(rootfsArgs('clearlinux', wdOf('clear'), mirror('unsigned'), repos, ['--allow-unsigned']));
    expect(r.code).toBe(0);
    expect(server.requests).toContain('/unsigned/current/x86_64/os/repodata/repomd.xml');
    expect(rpmQa(join(wdOf('clear'), 'rootfs'), '/var/lib/rpm').map((l) => l.split(' ')[0])).toEqual(['busybox', 'filesystem']);
  });

  test('--allow-unsigned does not turn checks off for a signed distro', async () => {
    const r = await runOsb(rootfsArgs('fedora', wdOf('fedora-unsigned'), mirror('good'), repos, ['--allow-unsigned', '--extra-pkgs', 'osb-unsigned']));
    expect(failed(r)).toBe('osb-unsigned-1.0-1.noarch is not signed: refused');
  });
});

(isRoot ? describe : describe.skip).each([
  ['fedora', 'dnf', 'fedora'],
  ['opensuse', 'zypper', 'repo-oss'],
])('%s (%s): refused in one line, the previous rootfs left as it was', (distro, _engine, repoId) => {
  const wd = () => wdOf(distro);
  let before: { ino: number; manifest: string };
  beforeAll(() => {
    before = { ino: statSync(join(wd(), 'rootfs')).ino, manifest: readFileSync(join(wd(), 'rootfs.manifest.json'), 'utf8') };
  });
  const untouched = () => {
    expect(statSync(join(wd(), 'rootfs')).ino).toBe(before.ino);
    expect(readFileSync(join(wd(), 'rootfs.manifest.json'), 'utf8')).toBe(before.manifest);
    expect(readdirSync(wd()).filter((n) => /\.osb-(stage|tmp|old)-/.test(n))).toEqual([]);
  };
  const zypper = distro === 'opensuse';
  const cases: Array<[string, string, string[], RegExp]> = [
    ['an unsigned package', 'good', ['--extra-pkgs', 'osb-unsigned'], /^osb-unsigned-1\.0-1\.noarch is not signed: refused$/],
    ['a tampered package', 'good', ['--extra-pkgs', 'osb-tampered'], /^osb-tampered-1\.0-1\.noarch does not verify \(altered or damaged\): refused$/],
    [
      'a package changed after the metadata was signed',
      'good',
      ['--extra-pkgs', 'osb-postmod'],
      zypper ? /^osb-postmod-1\.0-1\.noarch does not verify \(altered or damaged\): refused$/ : /^a downloaded package does not match the checksum in the signed repository metadata: refused$/,
    ],
    ['a package signed by another key', 'good', ['--extra-pkgs', 'osb-wrongkey'], /^osb-wrongkey-1\.0-1\.noarch is signed by a key osb does not trust: refused$/],
    [
      'a repomd.xml changed after it was signed',
      'badmeta',
      [],
      zypper ? new RegExp(`^the repomd.xml of repository '${repoId}' was changed after it was signed: refused$`) : new RegExp(`^the repomd.xml of repository '${repoId}' does not verify against the keys osb trusts: refused$`),
    ],
    [
      "a repository serving an attacker's key as repomd.xml.key",
      'evil',
      [],
      zypper ? new RegExp(`^the repomd.xml of repository '${repoId}' is not signed by a key osb trusts: refused$`) : new RegExp(`^the repomd.xml of repository '${repoId}' does not verify against the keys osb trusts: refused$`),
    ],
    [
      'a repository without a repomd.xml signature',
      'unsigned',
      [],
      zypper ? new RegExp(`^the repomd.xml of repository '${repoId}' is not signed by a key osb trusts: refused$`) : new RegExp(`^repository '${repoId}' serves no signature for its repomd.xml \\(repomd.xml.asc\\): refused$`),
    ],
  ];
  test.each(cases)('%s', async (_what, variant, extra, message) => {
    const r = await runOsb(rootfsArgs(distro, wd(), mirror(variant), repos, extra));
    expect(failed(r)).toMatch(message);
    expect(r.stderr).toMatch(/osb: hint: the command and its output are in .*rootfs\.log: (dnf|zypper) /);
    untouched();
    if (variant === 'evil') {
      // The attacker's packages never reached a tree, staged or final.
      expect(existsSync(join(wd(), 'rootfs/usr/share/osb-evil'))).toBe(false);
    }
  });
});

(isRoot ? describe : describe.skip)('privileges and the host', () => {
  test.each(['fedora', 'opensuse'])('%s as an unprivileged user: refused before any download, naming root', async (distro) => {
    const home = mkdtempSync(join(tmpdir(), 'osb-rpm-user-'));
    try {
      chmodSync(home, 0o777);
      server.requests.length = 0;
      const r = await runOsb(['rootfs', '--distro', distro, '--agent-init', '--workdir', join(home, 'wd'), '--mirror', mirror(), '--keys-dir', repos.keysDir], cleanEnv({ HOME: home }), [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
      ]);
      expect(failed(r)).toBe(`${distro} rootfs builds need root: rpm runs package scriptlets chrooted into the tree, and files keep their owners`);
      expect(r.stderr).toContain('osb: hint: run osb as root');
      expect(server.requests).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('the host is unchanged: nothing new under /etc, no /var/log/zypper.log written, no gpg-agent left running', () => {
    // New paths under /etc that no Debian package owns (this machine is shared: another session's
    // apt-get install may add packaged files meanwhile; dnf, zypper or rpm would add unowned ones).
    const before = new Set(hostEtc);
    const added = listTree('/etc').filter((p) => !before.has(p));
    const unowned = added.filter((p) => spawnSync('dpkg-query', ['-S', p], { stdio: 'ignore' }).status !== 0);
    expect(unowned).toEqual([]);
    expect(logStamp()).toBe(hostLog);
    const agents = execFileSync('ps', ['-eo', 'stat=,args='], { encoding: 'utf8' }).split('\n').filter((l) => !l.startsWith('Z') && l.includes('gpg-agent') && l.includes(scratch));
    expect(agents).toEqual([]);
  });
});
