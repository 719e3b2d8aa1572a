/**
 * `osb rootfs --distro alpine --agent-init` through the CLI, from a real-format Alpine
 * repository served on 127.0.0.1 (helpers/test-repo.ts): the tree, the busybox applet links its
 * post-install script makes, the scripts and triggers, and a database that osb's reader parses
 * back with the fields apk writes. Then every way a repository can be wrong, each refused with a
 * clear error and the previous rootfs (or none) left in place.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInstalled } from '../../../rootfs-builder/engines/apk/database.js';
import { readTar } from '../../../rootfs-builder/engines/apk/tar.js';
import { cleanEnv } from '../../helpers/cli.js';
import { AGENT_SCRIPT, isRoot } from '../../helpers/fixture-rootfs.js';
import { buildTestRepo, osbAsync, RELEASE, serveRepo, type TestRepo } from './helpers/test-repo.js';

jest.setTimeout(10 * 60_000);

let repo: TestRepo;
let server: Awaited<ReturnType<typeof serveRepo>>;
let wd: string;
const rootfs = () => join(wd, 'rootfs');
const mirror = (name = 'good') => `${server.url}/${name}`;
const build = (extra: readonly string[] = [], opts: { mirror?: string; workdir?: string; agentInit?: boolean } = {}) =>
  osbAsync([
    'rootfs',
    '--distro',
    'alpine',
    // Every setting each time: the workdir would otherwise remember the previous build's.
    opts.agentInit === false ? '--no-agent-init' : '--agent-init',
    '--extra-pkgs=',
    '--workdir',
    opts.workdir ?? wd,
    '--cache-dir',
    join(repo.root, 'cache'),
    '--mirror',
    opts.mirror ?? mirror(),
    '--keys-dir',
    repo.keysDir,
    ...extra,
  ]);
const sha1 = (b: Buffer | string) => `Q1${createHash('sha1').update(b).digest('base64')}`;

beforeAll(async () => {
  repo = buildTestRepo(mkdtempSync(join(tmpdir(), 'osb-alpine-repo-')));
  server = await serveRepo(repo);
  wd = mkdtempSync(join(tmpdir(), 'osb-alpine-'));
});
afterAll(async () => {
  await server?.close();
  if (wd) rmSync(wd, { recursive: true, force: true });
  if (repo) rmSync(repo.root, { recursive: true, force: true });
});

(isRoot ? describe : describe.skip)('osb rootfs --distro alpine (needs root: scripts run in a chroot)', () => {
  test('builds the tree from the repository: agent as init, busybox applet links, scripts, install_if', async () => {
    const r = await build(['--extra-pkgs', 'osb-community-hello']);
    if (r.code !== 0) throw new Error(`osb failed:\n${r.stdout}\n${r.stderr}`);
    const root = rootfs();
    const init = statSync(join(root, 'sbin/init'));
    expect(init.isFile() && (init.mode & 0o777) === 0o755).toBe(true);
    expect(readFileSync(join(root, 'sbin/init'), 'utf8')).toBe(readFileSync(AGENT_SCRIPT, 'utf8'));
    expect(readFileSync(join(root, 'bin/busybox')).equals(readFileSync('/bin/busybox'))).toBe(true);
    // Links made by busybox's post-install (`busybox --install -s`), /bin/sh by busybox-binsh.
    for (const applet of ['bin/ls', 'bin/mount', 'bin/cat', 'usr/bin/tr', 'usr/bin/cut', 'sbin/poweroff', 'bin/sh']) expect(readlinkSync(join(root, applet))).toBe('/bin/busybox');
    expect(readFileSync(join(root, 'var/lib/osb-test/baselayout-pre-install'), 'utf8')).toBe('alpine-baselayout pre-install 3.6.8-r1\n');
    expect(readFileSync(join(root, 'var/lib/osb-test/baselayout-post-install'), 'utf8')).toBe('alpine-baselayout post-install 3.6.8-r1, root shell /bin/sh\n');
    expect(readFileSync(join(root, 'var/lib/osb-test/busybox-trigger'), 'utf8')).toBe('/bin /sbin /usr/bin /usr/sbin\n');
    expect(readFileSync(join(root, 'etc/osb-install-if'), 'utf8')).toMatch(/busybox and musl-utils/);
    expect(readFileSync(join(root, 'lib/osb-test-musl.txt'), 'utf8')).toBe('musl stand-in\n'); // the newer musl
    expect(readFileSync(join(root, 'usr/share/osb-community-hello/hello.txt'), 'utf8')).toBe('hello from community\n');
    expect(existsSync(join(root, 'usr/share/doc/busybox'))).toBe(false); // install_if not met (no docs)
    expect(statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(root, 'root')).mode & 0o7777).toBe(0o700);
    expect(statSync(join(root, 'etc/shadow'))).toMatchObject({ gid: 42, mode: expect.any(Number) });
    expect(statSync(join(root, 'etc/shadow')).mode & 0o777).toBe(0o640);
    expect(readlinkSync(join(root, 'var/run'))).toBe('../run');
    expect(statSync(join(root, 'dev/null')).isCharacterDevice()).toBe(true); // apk's device nodes for scripts
    expect(readFileSync(join(root, 'etc/resolv.conf'), 'utf8')).toBe('');
    expect(readdirSync(root)).not.toContain('.osb-owned');
    const m = JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8'));
    expect(m).toMatchObject({ distro: 'alpine', release: RELEASE, arch: 'x86_64', agentInit: true, extraPackages: ['osb-community-hello'] });
    expect(m.packages.map((p: { name: string; version: string }) => `${p.name}-${p.version}`)).toEqual([
      'alpine-baselayout-3.6.8-r1',
      'alpine-baselayout-data-3.6.8-r1',
      'busybox-1.36.1-r29',
      'busybox-binsh-1.36.1-r29',
      'musl-1.2.5-r10',
      'musl-utils-1.2.5-r10',
      'osb-community-hello-1.0-r0',
      'osb-test-install-if-1.0-r0',
    ]);
  });

  test('the database parses back with the fields apk writes', async () => {
    const root = rootfs();
    const installed = await readInstalled(root);
    const byName = new Map(installed.map((e) => [e.pkg.name, e]));
    // Each record starts with the package's index stanza, field for field (apk_pkg_write_index_header).
    for (const built of repo.main.filter((p) => byName.has(p.spec.name) && p.spec.version === byName.get(p.spec.name)!.pkg.version)) {
      const head = byName.get(built.spec.name)!.fields.filter(([k]) => !'FMRaZrq'.includes(k)).map(([k, v]) => `${k}:${v}`);
      expect(head.join('\n') + '\n').toBe(built.stanza);
    }
    const busybox = byName.get('busybox')!;
    expect(busybox.dirs).toEqual(['bin']);
    expect(busybox.files).toEqual(['bin/busybox']);
    const lines = (name: string) => byName.get(name)!.fields.filter(([k]) => 'FMRaZ'.includes(k)).map(([k, v]) => `${k}:${v}`);
    expect(lines('busybox')).toEqual(['F:bin', 'R:busybox', 'a:0:0:755', `Z:${sha1(readFileSync('/bin/busybox'))}`]);
    expect(lines('busybox-binsh')).toEqual(['F:bin', 'R:sh', 'a:0:0:777', `Z:${sha1('/bin/busybox')}`]);
    expect(lines('alpine-baselayout-data')).toEqual(expect.arrayContaining(['F:etc', 'R:shadow', 'a:0:42:640', 'R:passwd']));
    expect(lines('alpine-baselayout')).toEqual(expect.arrayContaining(['F:root', 'M:0:0:700', 'F:tmp', 'M:0:0:1777', 'F:var', 'R:run', 'a:0:0:777']));
    const db = join(root, 'lib/apk/db');
    const scripts = readTar(readFileSync(join(db, 'scripts.tar')), 'scripts.tar');
    const bb = busybox.pkg.checksum;
    const base = byName.get('alpine-baselayout')!.pkg.checksum;
    expect(scripts.map((e) => e.name)).toEqual([`busybox-1.36.1-r29.${bb}.post-install`, `busybox-1.36.1-r29.${bb}.trigger`, `alpine-baselayout-3.6.8-r1.${base}.pre-install`, `alpine-baselayout-3.6.8-r1.${base}.post-install`]);
    expect(scripts[0]!.data.toString()).toMatch(/^#!\/bin\/busybox sh\n/);
    expect(execFileSync('tar', ['-tf', join(db, 'scripts.tar')]).toString().split('\n').filter(Boolean)).toHaveLength(4);
    expect(readFileSync(join(db, 'triggers'), 'utf8')).toBe(`${bb} /bin /usr/bin /sbin /usr/sbin /lib/modules/*\n`);
    expect(readFileSync(join(root, 'etc/apk/world'), 'utf8')).toBe('alpine-baselayout\nbusybox\nmusl-utils\nosb-community-hello\n');
    expect(readFileSync(join(root, 'etc/apk/arch'), 'utf8')).toBe('x86_64\n');
    expect(readFileSync(join(root, 'etc/apk/repositories'), 'utf8')).toBe(`${mirror()}/${RELEASE}/main\n${mirror()}/${RELEASE}/community\n`);
    expect(readdirSync(join(root, 'etc/apk/keys')).sort()).toEqual([
      'alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub',
      'alpine-devel@lists.alpinelinux.org-5261cecb.rsa.pub',
      'alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub',
      repo.key.name,
    ]);
  });

  test('a rebuild after an EXTRA_PKGS change downloads only the indexes, every package comes from the cache', async () => {
    server.requests.length = 0;
    const r = await build();
    expect(r.code).toBe(0);
    expect(server.requests.filter((u) => u.endsWith('.apk'))).toEqual([]);
    expect(server.requests.filter((u) => u.endsWith('APKINDEX.tar.gz'))).toHaveLength(2);
    expect(existsSync(join(rootfs(), 'usr/share/osb-community-hello'))).toBe(false);
  });
});

(isRoot ? describe : describe.skip)('refused with a clear error, the previous rootfs (or none) left in place', () => {
  let before: { ino: number; world: string };
  beforeAll(() => {
    before = { ino: statSync(rootfs()).ino, world: readFileSync(join(rootfs(), 'etc/apk/world'), 'utf8') };
  });
  const failed = (r: { code: number | null; stderr: string }) => {
    expect(r.code).toBe(1);
    return r.stderr.split('\n').find((l) => l.startsWith('osb: rootfs failed: '))?.slice('osb: rootfs failed: '.length);
  };
  const untouched = () => {
    expect(statSync(rootfs()).ino).toBe(before.ino);
    expect(readFileSync(join(rootfs(), 'etc/apk/world'), 'utf8')).toBe(before.world);
    expect(readdirSync(wd).filter((n) => /\.osb-(stage|tmp|old)-/.test(n))).toEqual([]);
  };

  const indexCases: Array<[string, string, RegExp]> = [
    ['an index signed by a key osb does not trust', 'unknown-key', /^the main index \(http:\/\/127\.0\.0\.1:\d+\/unknown-key\/v3\.22\/main\/x86_64\/APKINDEX\.tar\.gz\) is signed by osb-test-stranger-\w+\.rsa\.pub, which osb does not trust$/],
    ['an index altered after it was signed', 'tampered', /^the main index \(.*\): the signature by osb-test-repo-\w+\.rsa\.pub does not match the content: the file was altered or is damaged$/],
    ['an unsigned index', 'unsigned', /^the main index \(.*\) is not signed$/],
  ];
  test.each(indexCases)('%s', async (_what, name, message) => {
    expect(failed(await build([], { mirror: mirror(name) }))).toMatch(message);
    untouched();
  });

  const packageCases: Array<[string, string, RegExp]> = [
    ['a control stream that does not match the index C:', 'osb-bad-control', /^osb-bad-control-1\.0-r0\.apk: its control segment \(Q1\S+\) does not match the index \(C:Q1\S+\)$/],
    ['a data stream that does not match datahash', 'osb-bad-data', /^osb-bad-data-1\.0-r0\.apk: its data segment does not match the datahash in its verified control segment$/],
    ['a file that does not match its APK-TOOLS.checksum.SHA1', 'osb-bad-file', /^osb-bad-file-1\.0-r0\.apk: etc\/osb-bad-file does not match its APK-TOOLS\.checksum\.SHA1$/],
    ['an archive entry with ../', 'osb-evil-dotdot', /^osb-evil-dotdot-1\.0-r0: refusing archive entry '\.\.\/osb-evil-dotdot': it points outside the rootfs$/],
    ['an archive entry with an absolute path', 'osb-evil-abs', /^osb-evil-abs-1\.0-r0: refusing archive entry '\/.*\/outside\/evil-abs': it points outside the rootfs$/],
    ['an archive entry written through a symlink', 'osb-evil-symlink', /^osb-evil-symlink-1\.0-r0: refusing to write 'etc\/osb-link\/pwned' through the symlink \/etc\/osb-link$/],
    ['an unsatisfiable dependency', 'osb-needs-missing', /^unsatisfiable dependency libnothere>=1 \(needed by world → osb-needs-missing → osb-middle\): no package named or providing libnothere$/],
    ['a conflict', 'osb-conflicts-busybox', /^conflict: osb-conflicts-busybox \(needed by world\) forbids busybox, but busybox-1\.36\.1-r29 is needed by world$/],
  ];
  test.each(packageCases)('%s', async (_what, pkg, message) => {
    expect(failed(await build(['--extra-pkgs', pkg]))).toMatch(message);
    untouched();
    expect(readdirSync(repo.outside)).toEqual([]);
    expect(existsSync(join(wd, 'osb-evil-dotdot'))).toBe(false);
  });

  test('without --agent-init: Alpine has no systemd', async () => {
    const r = await build([], { agentInit: false });
    expect(failed(r)).toBe('alpine rootfs needs --agent-init (AGENT_INIT=yes): Alpine has no systemd');
    expect(r.stderr).toContain('osb: hint: osb installs the agent as /sbin/init in Alpine: add --agent-init');
    untouched();
  });

  test('as an unprivileged user: refused before anything is fetched, asking for root', async () => {
    const home = mkdtempSync(join(tmpdir(), 'osb-alpine-user-'));
    try {
      chmodSync(home, 0o777);
      server.requests.length = 0;
      const args = ['rootfs', '--distro', 'alpine', '--agent-init', '--workdir', join(home, 'wd'), '--mirror', mirror()];
      const r = await osbAsync(args, cleanEnv({ HOME: home }), ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
      expect(failed(r)).toBe('alpine rootfs builds need root: package scripts run in a chroot and files keep their owners');
      expect(r.stderr).toContain('osb: hint: run osb as root');
      expect(server.requests).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('a first build that fails leaves no rootfs at all', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'osb-alpine-fresh-'));
    try {
      expect(failed(await build([], { mirror: mirror('unknown-key'), workdir: fresh }))).toMatch(/which osb does not trust$/);
      expect(readdirSync(fresh).filter((n) => n.includes('rootfs'))).toEqual([]);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

test('--dry-run prints the indexes it would fetch and writes nothing', async () => {
  const fresh = mkdtempSync(join(tmpdir(), 'osb-alpine-dry-'));
  try {
    server.requests.length = 0;
    const r = await build(['--dry-run'], { workdir: fresh });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`would fetch and verify ${mirror()}/${RELEASE}/main/x86_64/APKINDEX.tar.gz`);
    expect(r.stdout).toContain(`would fetch and verify ${mirror()}/${RELEASE}/community/x86_64/APKINDEX.tar.gz`);
    expect(r.stdout).toMatch(/would resolve alpine-baselayout busybox musl-utils, download and verify the packages/);
    expect(server.requests).toEqual([]);
    expect(readdirSync(fresh)).toEqual([]);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});
