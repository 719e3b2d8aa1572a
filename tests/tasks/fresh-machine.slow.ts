/**
 * The README's two first commands on a fresh Debian 12 machine, with Node.js from anywhere.
 *
 * The machine is a Debian 12 chroot made with mmdebstrap (minbase and ca-certificates, as osb
 * makes a rootfs), cached as a tarball under OSB_TEST_CACHE keyed by its inputs. README command 1,
 * taken from the README itself, runs in it up to and including `check-deps --install` (the
 * kernel build and boot after it are the slow tier's other tests):
 * - with a stand-in for NodeSource's nodejs installed first: a .deb built here with dpkg-deb that
 *   ships the host's node and a bundled npm, provides npm and conflicts with Debian's npm, as
 *   NodeSource's does (so `apt-get install nodejs npm` is refused there, as the test shows);
 * - and without it, where Debian's nodejs and npm come from the archive.
 * README command 2's setup part runs in a mount namespace where binfmt_misc is not mounted, and
 * must leave it mounted with the qemu-aarch64 handler enabled (npm is a recording stand-in there:
 * the real `npm ci` would replace the checkout's node_modules under the running tests).
 *
 * Downloads are kept between runs: the chroot's apt archive under OSB_TEST_CACHE, the npm cache
 * of the host (which .ci/setup's npm ci filled) bound into the chroot.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isRoot, REPO_ROOT } from '../helpers/fixture-rootfs.js';
import { DEBIAN_MIRROR, TEST_CACHE } from '../helpers/debian-rootfs.js';
import { readmeCommands } from '../helpers/readme.js';

jest.setTimeout(30 * 60_000);

const RECIPE = 'fresh-v1';
const INCLUDE = ['ca-certificates'];
/** The npm the stand-in bundles, as NodeSource's nodejs bundles one (fetched once with npm pack). */
const NPM_VERSION = '10.8.2';
const STANDIN_VERSION = '20.99.0-1nodesource1';

interface Result {
  readonly code: number | null;
  readonly out: string;
}

function run(argv: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((done) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => done({ code, out }));
  });
}

/** What a failed step printed last, for the assertion message. */
const tail = (r: Result) => r.out.split('\n').slice(-40).join('\n');

/** The fresh machine's tree as a tarball, made once per set of inputs. */
function freshTarball(): string {
  const key = createHash('sha256').update(JSON.stringify({ RECIPE, suite: 'bookworm', variant: 'minbase', include: INCLUDE, mirror: DEBIAN_MIRROR })).digest('hex').slice(0, 16);
  const tar = join(TEST_CACHE, `fresh-debian12-${key}.tar`);
  if (existsSync(tar)) return tar;
  mkdirSync(TEST_CACHE, { recursive: true });
  const part = join(TEST_CACHE, `.fresh-debian12-${key}-${process.pid}.tar`); // mmdebstrap writes a tarball for a .tar name
  try {
    execFileSync('mmdebstrap', ['--variant=minbase', `--include=${INCLUDE.join(',')}`, '--quiet', 'bookworm', part, DEBIAN_MIRROR], { stdio: ['ignore', 'ignore', 'inherit'] });
    renameSync(part, tar);
  } finally {
    rmSync(part, { force: true });
  }
  return tar;
}

/** The shared libraries the host's node loads beyond glibc's own (none for NodeSource's; libnode and more for Debian's). */
function nodeLibraries(): string[] {
  const ldd = execFileSync('ldd', [process.execPath], { encoding: 'utf8' });
  return [...ldd.matchAll(/=> (\/\S+)/g)].map((m) => m[1]!).filter((p) => !/\/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*)\.so/.test(p));
}

/** npm's own tarball (its dependencies bundled), fetched once. */
function npmTarball(): string {
  const tgz = join(TEST_CACHE, `npm-${NPM_VERSION}.tgz`);
  if (existsSync(tgz)) return tgz;
  const dir = mkdtempSync(join(tmpdir(), 'osb-npm-pack-'));
  try {
    execFileSync('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', dir, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    mkdirSync(TEST_CACHE, { recursive: true });
    copyFileSync(join(dir, `npm-${NPM_VERSION}.tgz`), `${tgz}.part`);
    renameSync(`${tgz}.part`, tgz);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return tgz;
}

/**
 * A stand-in for NodeSource's nodejs .deb: the host's node (its extra libraries in a directory of
 * its own, found through ld.so.conf.d) and npm under /usr/lib/node_modules; Provides and
 * Conflicts as NodeSource's control file has them.
 */
function standinDeb(dir: string): string {
  const pkg = join(dir, 'nodejs-standin');
  const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  for (const d of ['DEBIAN', 'usr/bin', 'usr/lib/node_modules', 'usr/lib/osb-standin-node', 'etc/ld.so.conf.d']) mkdirSync(join(pkg, d), { recursive: true });
  copyFileSync(process.execPath, join(pkg, 'usr/bin/node'));
  chmodSync(join(pkg, 'usr/bin/node'), 0o755);
  for (const lib of nodeLibraries()) copyFileSync(lib, join(pkg, 'usr/lib/osb-standin-node', basename(lib)));
  writeFileSync(join(pkg, 'etc/ld.so.conf.d/osb-standin-node.conf'), '/usr/lib/osb-standin-node\n');
  execFileSync('tar', ['-xzf', npmTarball(), '-C', join(pkg, 'usr/lib/node_modules')]);
  renameSync(join(pkg, 'usr/lib/node_modules/package'), join(pkg, 'usr/lib/node_modules/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(pkg, 'usr/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(pkg, 'usr/bin/npx'));
  writeFileSync(
    join(pkg, 'DEBIAN/control'),
    [
      'Package: nodejs',
      `Version: ${STANDIN_VERSION}`,
      `Architecture: ${arch}`,
      'Maintainer: osb tests <tests@osb.invalid>',
      'Provides: nodejs-dev, nodejs-doc, nodejs-legacy, npm',
      'Conflicts: nodejs-dev, nodejs-doc, nodejs-legacy, npm',
      'Replaces: nodejs-dev, nodejs-doc, nodejs-legacy, npm',
      'Description: stand-in for NodeSource nodejs (osb tests)',
      '',
    ].join('\n'),
  );
  writeFileSync(join(pkg, 'DEBIAN/postinst'), '#!/bin/sh\nldconfig\n');
  chmodSync(join(pkg, 'DEBIAN/postinst'), 0o755);
  const deb = join(dir, 'nodejs-standin.deb');
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', pkg, deb], { stdio: 'ignore' });
  return deb;
}

/** The files of this checkout (tracked and new, as the working tree has them), copied to `dest`. */
function copyCheckout(dest: string): void {
  mkdirSync(dest, { recursive: true });
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && existsSync(join(REPO_ROOT, f)));
  const list = join(dest, '..', 'checkout-files');
  writeFileSync(list, files.join('\0'));
  execFileSync('sh', ['-c', 'tar -C "$1" --null -T "$2" -cf - | tar -C "$3" -xf -', 'copy', REPO_ROOT, list, dest]);
}

/**
 * Run `script` as root in the machine at `root`: /proc, /sys and /dev mounted, the apt archive and
 * the npm cache bound, the host's resolv.conf, all in a private mount namespace that goes away
 * with the command.
 */
function inMachine(root: string, script: string): Promise<Result> {
  const aptCache = join(TEST_CACHE, 'fresh-debian12-apt-archives');
  const npmCache = join(process.env.HOME ?? homedir(), '.npm');
  mkdirSync(join(aptCache, 'partial'), { recursive: true });
  mkdirSync(npmCache, { recursive: true });
  const setup = [
    'set -e',
    'root=$1; apt=$2; npm=$3; script=$4',
    'mount -t proc proc "$root/proc"',
    'mount -t sysfs sysfs "$root/sys"',
    'mount --rbind /dev "$root/dev"',
    'mount --bind "$apt" "$root/var/cache/apt/archives"',
    'mkdir -p "$root/root/.npm" && mount --bind "$npm" "$root/root/.npm"',
    // Replaced, not written through: a symlink there would point into the host's /run.
    'rm -f "$root/etc/resolv.conf" && cp /etc/resolv.conf "$root/etc/resolv.conf"',
    // A chroot must not start the host's services; npm takes what its cache has without asking the registry again.
    'exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb CI=true DEBIAN_FRONTEND=noninteractive npm_config_prefer_offline=true sh -c "cd /root/osb && $script"',
  ].join('\n');
  return run(['unshare', '--mount', '--propagation', 'private', '--fork', '--', 'sh', '-c', setup, 'fresh-machine', root, aptCache, npmCache, script]);
}

/** A fresh machine from the cached tarball, with this checkout at /root/osb. */
function freshMachine(dir: string, name: string): string {
  const root = join(dir, name);
  mkdirSync(root);
  execFileSync('tar', ['-C', root, '-xf', freshTarball()]);
  writeFileSync(join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
  chmodSync(join(root, 'usr/sbin/policy-rc.d'), 0o755);
  // Unpacking hundreds of packages without an fsync per file (the machine is thrown away after).
  writeFileSync(join(root, 'etc/dpkg/dpkg.cfg.d/osb-test-unsafe-io'), 'force-unsafe-io\n');
  copyCheckout(join(root, 'root/osb'));
  return root;
}

/** README command 1 up to and including `npx osb check-deps --install ...`, from the README's own text. */
function commandOneThroughCheckDeps(): string {
  const parts = readmeCommands().build.split(' && ');
  const last = parts.findIndex((p) => p.startsWith('npx osb check-deps --install'));
  expect(last).toBeGreaterThan(0);
  return parts.slice(0, last + 1).join(' && ');
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-fresh-machine-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

(isRoot ? describe : describe.skip)("the README's commands on a fresh Debian 12 machine (needs root)", () => {
  test("command 1 with NodeSource's nodejs installed (a stand-in that conflicts with Debian's npm): through check-deps --install", async () => {
    const root = freshMachine(dir, 'nodesource');
    copyFileSync(standinDeb(dir), join(root, 'tmp/nodejs-standin.deb'));
    const installed = await inMachine(root, 'dpkg -i /tmp/nodejs-standin.deb && node --version && npm --version');
    expect([installed.code, tail(installed)]).toEqual([0, expect.stringContaining(`${NPM_VERSION}`)]);
    const r = await inMachine(root, commandOneThroughCheckDeps());
    expect([r.code, tail(r)]).toEqual([0, expect.stringMatching(/all dependencies present/)]);
    // The stand-in is still the machine's nodejs, and Debian's npm never came in.
    const after = await inMachine(root, "dpkg-query -W -f='${Version} ${db:Status-Status}\\n' nodejs; dpkg-query -W -f='${db:Status-Status}\\n' npm || true");
    expect(after.out).toContain(`${STANDIN_VERSION} installed`);
    expect(after.out).not.toMatch(/^installed$/m);
    // What the README said before: refused here, as on a NodeSource machine.
    const old = await inMachine(root, 'apt-get install -y nodejs npm');
    expect(old.code).toBe(100);
    expect(old.out).toMatch(/nodejs : Conflicts: npm/);
  });

  test("command 1 on a machine without Node.js: Debian's nodejs and npm from the archive, through check-deps --install", async () => {
    const root = freshMachine(dir, 'debian');
    const r = await inMachine(root, commandOneThroughCheckDeps());
    expect([r.code, tail(r)]).toEqual([0, expect.stringMatching(/all dependencies present/)]);
    const after = await inMachine(root, "dpkg-query -W -f='${Version} ${db:Status-Status}\\n' nodejs npm");
    expect(after.out).toMatch(/^18\.\S+ installed$/m);
    expect(after.out.match(/ installed$/gm)).toHaveLength(2);
  });

  test("command 2's setup, where binfmt_misc is not mounted: it mounts it and enables qemu-aarch64", async () => {
    const setup = readmeCommands().test.replace(/ && npm test$/, '');
    expect(setup).not.toBe(readmeCommands().test);
    // npm records what it was asked: the real npm ci would replace node_modules under this test run.
    const bin = join(dir, 'npm-stub');
    mkdirSync(bin);
    writeFileSync(join(bin, 'npm'), `#!/bin/sh\necho "$*" >> ${join(dir, 'npm-calls')}\n`);
    chmodSync(join(bin, 'npm'), 0o755);
    const script = [
      'set -e',
      'umount /proc/sys/fs/binfmt_misc 2>/dev/null || true',
      '! mountpoint -q /proc/sys/fs/binfmt_misc',
      `PATH=${bin}:$PATH; ${setup}`,
      'mountpoint -q /proc/sys/fs/binfmt_misc',
      'cat /proc/sys/fs/binfmt_misc/qemu-aarch64',
    ].join('\n');
    const r = await run(['unshare', '--mount', '--propagation', 'private', '--fork', '--', 'sh', '-c', script], { cwd: REPO_ROOT });
    expect([r.code, tail(r)]).toEqual([0, expect.stringMatching(/^enabled$/m)]);
    expect(readFileSync(join(dir, 'npm-calls'), 'utf8')).toMatch(/^ci\b/m);
  });
});
