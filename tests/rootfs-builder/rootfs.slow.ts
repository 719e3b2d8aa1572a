/**
 * osb rootfs for real: Debian bookworm from Debian's archive, through the CLI as a user runs it.
 * The package cache is shared across the tests (and CI runs) so only the first build downloads.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { AGENT_SCRIPT, REPO_ROOT } from '../helpers/fixture-rootfs.js';

jest.setTimeout(15 * 60_000);

let wd: string;
const cache = join(TEST_CACHE, 'osb-cache');
const hookMarker = join(tmpdir(), `osb-hook-${process.pid}`);
let hook: string;
let mjsHook: string;
const hooks = () => ['--hook', hook, '--hook', mjsHook];
let agent: string;
const base = () => ['--workdir', wd, '--cache-dir', cache];
const manifest = () => JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8'));
const getLines = () => readFileSync(join(wd, 'logs', 'rootfs.log'), 'utf8').split('\n').filter((l) => /^Get:\d+ .*\.deb|^Get:\d+ \S+ \S+ \S+ \S+ \S+ \S+ \[/.test(l) && !/InRelease|Packages/.test(l));

beforeAll(() => {
  wd = mkdtempSync(join(tmpdir(), 'osb-rootfs-'));
  hook = join(wd, 'hook.sh');
  writeFileSync(hook, '#!/bin/sh\nset -e\necho "built by osb hook" > "$ROOTFS_DIR/etc/osb-hook-was-here"\n');
  chmodSync(hook, 0o755);
  // An .mjs hook runs with zx's globals: $ and fs come from zx, not from an import.
  mjsHook = join(wd, 'hook.mjs');
  writeFileSync(mjsHook, 'const kernel = (await $`uname -s`).stdout.trim();\nawait fs.writeFile(`${process.env.ROOTFS_DIR}/etc/osb-zx-hook`, `zx saw ${kernel}\\n`);\n');
  agent = join(wd, 'agent');
  copyFileSync(AGENT_SCRIPT, agent);
  chmodSync(agent, 0o755);
});
afterAll(() => {
  rmSync(wd, { recursive: true, force: true });
  rmSync(hookMarker, { force: true });
});

describe('osb rootfs --distro debian', () => {
  test('agent-init build: agent is /sbin/init, extra packages, hook change, manifest with versions', () => {
    const r = osb(['rootfs', ...base(), '--agent-init', '--extra-pkgs', 'iproute2', ...hooks()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rootfs = join(wd, 'rootfs');
    const init = statSync(join(rootfs, 'sbin/init'));
    expect(init.isFile() && (init.mode & 0o777) === 0o755).toBe(true);
    expect(readFileSync(join(rootfs, 'sbin/init'), 'utf8')).toBe(readFileSync(AGENT_SCRIPT, 'utf8'));
    expect(existsSync(join(rootfs, 'usr/bin/ip'))).toBe(true);
    expect(readFileSync(join(rootfs, 'etc/osb-hook-was-here'), 'utf8')).toBe('built by osb hook\n');
    expect(readFileSync(join(rootfs, 'etc/osb-zx-hook'), 'utf8')).toBe('zx saw Linux\n');
    expect(readFileSync(join(rootfs, 'etc/resolv.conf'), 'utf8')).toBe('');
    expect(readdirSync(rootfs)).not.toContain('.osb-owned');
    const m = manifest();
    expect(m).toMatchObject({ distro: 'debian', release: 'bookworm', arch: 'x86_64', agentInit: true, extraPackages: ['iproute2'] });
    expect(m.agent.sha256).toMatch(/^[0-9a-f]{64}$/);
    const pkgs = new Map<string, string>(m.packages.map((p: { name: string; version: string }) => [p.name, p.version]));
    expect(pkgs.get('iproute2')).toMatch(/^\d/);
    expect(pkgs.get('libc6')).toMatch(/^2\.36/);
    expect(pkgs.has('systemd')).toBe(false);
    expect(readFileSync(join(rootfs, 'var/lib/osbuilder/osbuilder.yaml'), 'utf8')).toMatch(/agent-is-init-daemon: "?yes"?\n/);
  });

  test('unchanged inputs: skipped', () => {
    const before = statSync(join(wd, 'rootfs')).ino;
    const r = osb(['rootfs', ...base(), '--agent-init', '--extra-pkgs', 'iproute2', ...hooks(), '--log-format', 'ndjson']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n')[0]!)).toMatchObject({ event: 'skip', target: 'rootfs', reason: 'up to date' });
    expect(statSync(join(wd, 'rootfs')).ino).toBe(before);
  });

  test('an EXTRA_PKGS change rebuilds without downloading the cached packages again', () => {
    const ex = osb(['explain', 'rootfs', ...base(), '--agent-init', ...hooks()], { env: cleanEnv({ EXTRA_PKGS: 'iproute2 less' }) });
    expect(ex.stdout).toBe('rootfs would rebuild:\n  - input changed: setting extraPkgs: [iproute2] (flag --extra-pkgs) -> [iproute2 less] (env EXTRA_PKGS)\n');
    const debs = join(cache, 'debs', 'debian-amd64');
    const cachedBefore = new Set(readdirSync(debs).map((f) => f.split('_')[0]));
    const r = osb(['rootfs', ...base(), '--agent-init', ...hooks()], { env: cleanEnv({ EXTRA_PKGS: 'iproute2 less' }) });
    expect(r.code).toBe(0);
    expect(existsSync(join(wd, 'rootfs/usr/bin/less'))).toBe(true);
    // At most the one new package is fetched (none if an earlier run cached it); nothing cached is fetched again.
    const fetched = getLines().map((l) => l.split(' ')[4]!);
    expect(fetched.filter((p) => p !== 'less')).toEqual([]);
    expect(fetched.filter((p) => cachedBefore.has(p))).toEqual([]);
    expect(readdirSync(debs).some((f) => f.startsWith('less_'))).toBe(true);
  });

  test("the agent binary's content changes: rebuild with the new agent", () => {
    writeFileSync(agent, `${readFileSync(agent, 'utf8')}\n# v2\n`);
    const args = ['rootfs', ...base(), '--agent-init', '--agent-bin', agent];
    expect(osb(args).code).toBe(0);
    expect(readFileSync(join(wd, 'rootfs/sbin/init'), 'utf8')).toContain('# v2');
    expect(manifest().agent.name).toBe('kata-agent');
    writeFileSync(agent, `${readFileSync(agent, 'utf8')}# v3\n`);
    const ex = osb(['explain', ...args]);
    expect(ex.stdout).toBe(`rootfs would rebuild:\n  - input changed: file ${agent}\n`);
    expect(osb(args).code).toBe(0);
    expect(readFileSync(join(wd, 'rootfs/sbin/init'), 'utf8')).toContain('# v3');
    expect(getLines()).toEqual([]);
  });

  test('a failing hook names the hook and its exit code; the previous rootfs is untouched', () => {
    const bad = join(wd, 'bad-hook.sh');
    writeFileSync(bad, '#!/bin/sh\necho "no space for this" >&2\nexit 7\n');
    chmodSync(bad, 0o755);
    const before = readFileSync(join(wd, 'rootfs/sbin/init'), 'utf8');
    const r = osb(['rootfs', ...base(), '--agent-init', '--hook', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`osb: rootfs failed: hook ${bad} failed with exit code 7: no space for this`);
    expect(readFileSync(join(wd, 'rootfs/sbin/init'), 'utf8')).toBe(before);
    expect(readdirSync(wd).filter((n) => n.includes('osb-stage'))).toEqual([]);
  });

  test('the systemd variant: systemd is init and the agent unit is enabled', () => {
    // The workdir remembers --agent-init and --agent-bin from the commands above: say otherwise.
    const r = osb(['rootfs', ...base(), '--rootfs-dir', join(wd, 'rootfs-systemd'), '--no-agent-init', '--agent-bin=', '--hook=']);
    expect(r.code).toBe(0);
    const rootfs = join(wd, 'rootfs-systemd');
    expect(readlinkSync(join(rootfs, 'sbin/init'))).toMatch(/systemd$/);
    const unit = readFileSync(join(rootfs, 'etc/systemd/system/osb-agent.service'), 'utf8');
    expect(unit).toContain('ExecStart=/usr/bin/osb-agent');
    expect(readlinkSync(join(rootfs, 'etc/systemd/system/multi-user.target.wants/osb-agent.service'))).toBe('/etc/systemd/system/osb-agent.service');
    expect(statSync(join(rootfs, 'usr/bin/osb-agent')).mode & 0o111).toBeTruthy();
    expect(manifest().packages.some((p: { name: string }) => p.name === 'systemd')).toBe(true);
  });

  test('a release change rebuilds', () => {
    const ex = osb(['explain', 'rootfs', ...base(), '--rootfs-dir', join(wd, 'rootfs-systemd'), '--os-version', 'trixie']);
    expect(ex.stdout).toContain('input changed: setting osVersion');
  });
});

describe('osb rootfs refuses bad input before doing anything', () => {
  test('--agent-bin missing or not executable', () => {
    const r = osb(['rootfs', ...base(), '--agent-bin', join(wd, 'nope')]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`osb: agent binary ${join(wd, 'nope')} does not exist`);
    const noexec = join(wd, 'noexec');
    writeFileSync(noexec, 'x');
    const r2 = osb(['rootfs', ...base(), '--agent-bin', noexec]);
    expect(r2.stderr.split('\n')[0]).toBe(`osb: agent binary ${noexec} is not executable`);
  });

  test('ROOTFS_DIR=/ and a foreign non-empty directory', () => {
    const r = osb(['rootfs', ...base()], { env: cleanEnv({ ROOTFS_DIR: '/' }) });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('osb: refusing to use / as ROOTFS_DIR: osb would replace its contents');
    const foreign = join(wd, 'precious');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'thesis.tex'), 'years of work');
    const r2 = osb(['rootfs', ...base()], { env: cleanEnv({ ROOTFS_DIR: foreign }) });
    expect(r2.code).toBe(1);
    expect(r2.stderr.split('\n')[0]).toBe(`osb: refusing to replace ${foreign}: it is not empty and osb did not create it (no .osb-owned marker)`);
    expect(readFileSync(join(foreign, 'thesis.tex'), 'utf8')).toBe('years of work');
  });

  test('Ubuntu: the dry-run plan uses the Ubuntu archive, release and keyring', () => {
    const r = osb(['rootfs', ...base(), '--distro', 'ubuntu', '--dry-run']);
    expect(r.code).toBe(0);
    // The host's keyring when it has one, else the copy osb ships (Debian 12 has no ubuntu-keyring).
    const keyring = existsSync('/usr/share/keyrings/ubuntu-archive-keyring.gpg') ? '/usr/share/keyrings/ubuntu-archive-keyring.gpg' : join(REPO_ROOT, 'distros/keys/ubuntu/ubuntu-archive-keyring.gpg');
    expect(r.stdout).toContain(` --keyring=${keyring} `);
    expect(r.stdout).toMatch(/would run: mmdebstrap .* noble \S+ http:\/\/archive\.ubuntu\.com\/ubuntu/);
    expect(r.stdout).toContain('--components=main,universe');
  });
});
