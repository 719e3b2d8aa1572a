/**
 * toolbox and distrobox, Debian's own (podman-toolbox 0.0.99.3, distrobox 1.4.2.1), enter osb's
 * images as a user runs them: rootless, as a user the test makes, with a D-Bus system bus the test
 * starts (toolbox asks for its socket), and with no network while they enter, so whatever they would
 * install at the first entry fails. A plain image shows that: the same steps fail on it.
 *
 * podman's configuration and store are the user's own (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF):
 * runc, as crun cannot run on this host's cgroup v1, and the nofile and nproc limits this host's
 * runc can set (toolbox passes --ulimit host, which podman turns into limits above the hard ones).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorLine, osb } from '../helpers/cli.js';
import { DEBIAN_MIRROR, TEST_CACHE } from '../helpers/debian-rootfs.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';

jest.setTimeout(20 * 60_000);

const USER = 'osb-toolbox-test';
let dir: string;
let home: string;
let uid: number;
let bus: ChildProcess;
let userEnv: string[];
let madeUser = false;

/** A command as the test user, in the host's network or (net: false) in an empty network namespace. */
function asUser(argv: readonly string[], net = true): SpawnSyncReturns<string> {
  const inner = ['runuser', '-u', USER, '--', 'env', '-i', ...userEnv, ...argv];
  return spawnSync(net ? inner[0]! : 'unshare', net ? inner.slice(1) : ['--net', ...inner], { encoding: 'utf8', timeout: 10 * 60_000, cwd: home });
}

/** osb oci of Debian bookworm with `flags`, into its own workdir; the docker-archive, readable by the user. */
function build(name: string, flags: readonly string[]): { archive: string; wd: string } {
  const wd = join(dir, name);
  const r = osb(['oci', '--distro', 'debian', '--mirror', DEBIAN_MIRROR, '--docker-archive', '--oci-ref', `localhost/${name}:1`, ...flags, '--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache')], { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) throw new Error(`osb oci ${flags.join(' ')} failed: ${errorLine(r.stderr) ?? r.stderr.slice(-2000)}`);
  const archive = join(dir, `${name}.tar`);
  copyFileSync(join(wd, 'osb-docker.tar'), archive);
  chmodSync(archive, 0o644);
  expect(asUser(['podman', 'load', '-i', archive]).stdout).toContain(`Loaded image: localhost/${name}:1`);
  return { archive, wd };
}

beforeAll(() => {
  dir = tempDir('osb-toolbox-');
  chmodSync(dir, 0o755);
  home = join(dir, 'home');
  if (spawnSync('id', ['-u', USER]).status !== 0) {
    // useradd gives the user a subordinate id range (Debian's login.defs), which rootless podman maps.
    const r = spawnSync('useradd', ['--create-home', '--home-dir', home, '--shell', '/bin/bash', USER], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`useradd: ${r.stderr}`);
    madeUser = true;
  } else {
    mkdirSync(home, { recursive: true });
    spawnSync('usermod', ['--home', home, USER]);
  }
  uid = Number(spawnSync('id', ['-u', USER], { encoding: 'utf8' }).stdout.trim());
  chownSync(home, uid, uid);
  const runtime = join(dir, 'runtime');
  mkdirSync(runtime, { mode: 0o700 });
  chownSync(runtime, uid, uid);
  writeFileSync(join(dir, 'containers.conf'), '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\n');
  writeFileSync(join(dir, 'storage.conf'), '[storage]\ndriver = "vfs"\n');
  const socket = join(dir, 'system_bus_socket');
  writeFileSync(
    join(dir, 'bus.conf'),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>\n`,
  );
  bus = spawn('dbus-daemon', ['--config-file', join(dir, 'bus.conf'), '--nofork', '--nopidfile'], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !existsSync(socket); i++) spawnSync('sleep', ['0.1']);
  userEnv = [
    'PATH=/usr/local/bin:/usr/bin:/bin', `HOME=${home}`, `USER=${USER}`, `LOGNAME=${USER}`, 'SHELL=/bin/bash', `XDG_RUNTIME_DIR=${runtime}`,
    `CONTAINERS_CONF=${join(dir, 'containers.conf')}`, `CONTAINERS_STORAGE_CONF=${join(dir, 'storage.conf')}`, `DBUS_SYSTEM_BUS_ADDRESS=unix:path=${socket}`,
  ];
});

afterAll(() => {
  // The user's podman leaves its pause process; it goes with the user's other processes.
  spawnSync('pkill', ['-KILL', '-u', USER]);
  bus?.kill();
  if (madeUser) spawnSync('userdel', [USER]);
  removeTempDirs();
});

describe('osb oci --toolbox', () => {
  test('toolbox create, then toolbox run with no network: os-release, and sudo without a password', () => {
    const { wd } = build('osb-toolbox', ['--toolbox']);
    expect(asUser(['toolbox', '-y', 'create', '-i', 'localhost/osb-toolbox:1', 'tb']).status).toBe(0);
    const release = asUser(['toolbox', 'run', '-c', 'tb', 'cat', '/etc/os-release'], false);
    expect(release.stdout).toMatch(/^ID=debian$/m);
    expect(release.stdout).toMatch(/^VERSION_ID="12"$/m);
    // toolbox made the user in the container with no password; sudo lets the sudo group in without one.
    const sudo = asUser(['toolbox', 'run', '-c', 'tb', 'sudo', '-n', 'id', '-u'], false);
    expect(sudo.stdout.trim()).toBe('0');
    expect(asUser(['toolbox', 'run', '-c', 'tb', 'id', '-un'], false).stdout.trim()).toBe(USER);
    // The label toolbox create asks for, and no agent: the image is entered, never booted.
    const manifest = JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8'));
    expect(manifest.agent).toBeNull();
    expect(manifest.containerTools.packages).toEqual(expect.arrayContaining(['libcap2-bin', 'sudo', 'passwd', 'flatpak-xdg-utils']));
    const inspect = asUser(['podman', 'image', 'inspect', '--format', '{{json .Labels}}', 'localhost/osb-toolbox:1']);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ 'com.github.containers.toolbox': 'true' });
  });

  test('distrobox enter installs nothing: no network, and the package list is the image\'s', () => {
    const { wd } = build('osb-distrobox', ['--distrobox']);
    expect(asUser(['distrobox', 'create', '-Y', '-i', 'localhost/osb-distrobox:1', '-n', 'db']).status).toBe(0);
    // distrobox-enter evals the command line: a script in the user's home (which it mounts) keeps its quoting.
    const script = join(home, 'inside.sh');
    writeFileSync(script, '. /etc/os-release\necho "$ID $VERSION_ID"\nsudo -n id -u\ndpkg-query -W -f \'${Package}\\n\' > "$HOME/packages"\n');
    chownSync(script, uid, uid);
    const enter = asUser(['distrobox', 'enter', 'db', '--', 'sh', script], false);
    expect(enter.stdout).toMatch(/^debian 12\n0\n/m);
    const built = JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8')).packages.map((p: { name: string }) => p.name).sort();
    expect(readFileSync(join(home, 'packages'), 'utf8').trim().split('\n').sort()).toEqual(built);
  });

  test('a plain image fails both: toolbox lacks capsh, distrobox cannot install what it lacks without the network', () => {
    // A minbase Debian has no init: --allow-empty, as it is never booted either.
    build('osb-plain', ['--no-agent', '--allow-empty']);
    expect(asUser(['toolbox', '-y', 'create', '-i', 'localhost/osb-plain:1', 'plain']).status).toBe(0);
    // toolbox 0.0.99.3 exits 0 here all the same: its output is what tells.
    const run = asUser(['toolbox', 'run', '-c', 'plain', 'echo', 'entered'], false);
    expect(run.stderr).toMatch(/exec: "capsh": executable file not found/);
    expect(run.stdout).not.toContain('entered');
    expect(asUser(['distrobox', 'create', '-Y', '-i', 'localhost/osb-plain:1', '-n', 'plain-db']).status).toBe(0);
    const enter = asUser(['distrobox', 'enter', 'plain-db', '--', 'echo', 'entered'], false);
    expect(enter.status).not.toBe(0);
    expect(enter.stdout + enter.stderr).toMatch(/Installing basic packages.*Error/);
    expect(enter.stdout).not.toContain('entered');
  });

  test('--toolbox with --agent-init is one line, and builds nothing', () => {
    const wd = join(dir, 'refused');
    const r = osb(['oci', '--distro', 'debian', '--toolbox', '--agent-init', '--workdir', wd]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toMatch(/^osb: --toolbox makes an image a container tool enters, with no agent; --agent-init is for a guest$/);
    expect(existsSync(join(wd, 'rootfs'))).toBe(false);
  });
});
