/** The CLI as a user meets it: help, bad input (one clear line, exit code, nothing created). */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandLine } from '../../tasks/commands/index.js';
import { SETTINGS } from '../../tasks/settings/table.js';
import { cleanEnv, osb } from '../helpers/cli.js';
import { makeFixtureRootfs, REPO_ROOT } from '../helpers/fixture-rootfs.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bad input: exactly one "osb:" line saying what, one hint line, the given exit code. */
function expectUsage(args: string[], code: number, message: RegExp, env?: NodeJS.ProcessEnv) {
  const r = osb(args, { env: cleanEnv(env), cwd: dir });
  expect(r.code).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines.length).toBeLessThanOrEqual(2);
  expect(r.stdout).toBe('');
  return r;
}

describe('help', () => {
  test('osb --help lists the targets', () => {
    const r = osb(['--help']);
    expect(r.code).toBe(0);
    for (const t of ['rootfs', 'image', 'initrd', 'kernel', 'boot', 'check-deps', 'clean', 'explain', 'help']) expect(r.stdout).toMatch(new RegExp(`osb ${t}\\b`));
  });

  test('osb --version prints the package version; as an option of a command it is refused', () => {
    const r = osb(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`osb ${JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version}\n`);
    expect(osb(['--help']).stdout).toContain('--version');
    // Lines are the terminal's to wrap: no word of the help is split across two lines.
    expect(osb(['--help']).stdout).toContain('Run `osb help` for every option with its environment variable and default.');
    expectUsage(['rootfs', '--version'], 2, /^osb: unknown option --version/);
  });

  test('osb help lists every env var with its default', () => {
    const r = osb(['help']);
    expect(r.code).toBe(0);
    for (const s of SETTINGS) for (const e of s.env) expect(r.stdout).toContain(e.name);
    for (const name of ['AGENT_INIT', 'AGENT_SOURCE_BIN', 'ROOTFS_DIR', 'EXTRA_PKGS', 'IMAGE_SIZE', 'ROOT_FREE_SPACE', 'FS_TYPE', 'BLOCK_SIZE', 'OS_VERSION', 'DISTRO', 'WORKDIR', 'KERNEL_VERSION']) {
      expect(r.stdout).toContain(name);
    }
    expect(r.stdout).toMatch(/--fs-type ext4\|xfs\|erofs\n\s+Filesystem of the root partition\n\s+default: ext4\s+env: OSB_FS_TYPE, FS_TYPE/);
  });
});

describe('settings from flags and the environment', () => {
  test("Kata's variables and yes/no booleans are accepted; flags win over env", async () => {
    const p = await parseCommandLine(['image'], { AGENT_INIT: 'yes', EXTRA_PKGS: 'iproute2 procps', IMAGE_SIZE: '300', SKIP_DAX_HEADER: 'yes', FS_TYPE: 'erofs' });
    expect(p.settings.agentInit).toBe(true);
    expect(p.settings.extraPkgs).toEqual(['iproute2', 'procps']);
    expect(p.settings.imageSize).toBe(300);
    expect(p.settings.dax).toBe(false);
    expect(p.settings.fsType).toBe('erofs');
    const q = await parseCommandLine(['image', '--fs-type', 'xfs', '--no-agent-init'], { FS_TYPE: 'erofs', AGENT_INIT: 'yes', OSB_FS_TYPE: 'ext4' });
    expect(q.settings.fsType).toBe('xfs');
    expect(q.settings.agentInit).toBe(false);
    expect((await parseCommandLine(['image'], { FS_TYPE: 'erofs', OSB_FS_TYPE: 'ext4' })).settings.fsType).toBe('ext4');
  });

  test('a flag given twice: the last wins; list flags add up', async () => {
    const p = await parseCommandLine(['rootfs', '--image-size', '100', '--image-size', '200', '--extra-pkgs', 'a b', '--extra-pkgs', 'c'], {});
    expect(p.settings.imageSize).toBe(200);
    expect(p.settings.extraPkgs).toEqual(['a', 'b', 'c']);
  });
});

describe('--dry-run through the real targets', () => {
  test('slim by default: dpkg path-exclude rules and merged-/usr by hook; --no-slim drops the rules', () => {
    const wd = join(dir, 'slim-dry');
    const slim = osb(['rootfs', '--agent-init', '--dry-run', '--extra-pkgs', 'less', '--workdir', wd], { cwd: dir });
    expect(slim.code).toBe(0);
    for (const rule of ['path-exclude=/usr/share/doc/*', 'path-include=/usr/share/doc/*/copyright', 'path-exclude=/usr/share/man/*', 'path-exclude=/usr/share/locale/*']) expect(slim.stdout).toContain(`'--dpkgopt=${rule}'`);
    expect(slim.stdout).toContain('--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr');
    if (process.getuid?.() === 0) {
      // As root the base comes from (or goes into) the cache and the extra packages go on a copy.
      expect(slim.stdout).toMatch(/would run: mmdebstrap .*--skip=cleanup\/apt\/lists .* \S+\/cache\/base\/debian-bookworm-amd64-[0-9a-f]{16}\.osb-tmp-\d+\/rootfs /);
      expect(slim.stdout).toMatch(/osb-install-extras(?: \S+){7} less$/m);
    }
    const fat = osb(['rootfs', '--agent-init', '--dry-run', '--no-slim', '--workdir', wd], { cwd: dir });
    expect(fat.code).toBe(0);
    expect(fat.stdout).not.toContain('path-exclude');
    expect(existsSync(wd)).toBe(false);
  });

  test('osb boot --initrd --dry-run from an empty workdir prints every step and creates nothing', () => {
    const wd = join(dir, 'dry');
    const r = osb(['boot', '--initrd', '--agent-init', '--dry-run', '--workdir', wd], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rootfs: would build \(output missing: /m);
    expect(r.stdout).toMatch(/would run: mmdebstrap --variant=minbase /);
    expect(r.stdout).toMatch(/^initrd: would build/m);
    expect(r.stdout).toMatch(/^kernel: (would build|up to date)/m);
    expect(r.stdout).toMatch(/would run: qemu-system-x86_64 .*-initrd /);
    const img = osb(['image', '--dry-run', '--workdir', wd], { cwd: dir });
    expect(img.code).toBe(0);
    expect(img.stdout).toMatch(/would size the image from .* once it is built/);
    expect(existsSync(wd)).toBe(false);
  });
});

describe('initrd and kernel agree on the compression', () => {
  test("a warning when the kernel osb built cannot unpack the initrd's compression", () => {
    const wd = join(dir, 'rd-warn');
    const rootfs = makeFixtureRootfs(join(dir, 'rd-warn-rootfs'));
    mkdirSync(wd);
    // A kernel config like Kata's: gzip initrds only.
    writeFileSync(join(wd, 'config-6.1.0'), 'CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n');
    symlinkSync('config-6.1.0', join(wd, 'kernel.config'));
    const r = osb(['initrd', '--no-deps', '--agent-init', '--rootfs-dir', rootfs, '--workdir', wd]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`warning: initrd: the kernel osb built in ${wd} cannot unpack a zstd initrd (CONFIG_RD_ZSTD is not set)`);
    const gz = osb(['initrd', '--no-deps', '--agent-init', '--rootfs-dir', rootfs, '--workdir', wd, '--compression', 'gzip']);
    expect(gz.code).toBe(0);
    expect(gz.stderr).not.toContain('cannot unpack');
  });
});

describe('osb clean', () => {
  test('removes what osb built, keeps the download cache, and refuses a directory osb did not make', () => {
    const wd = join(dir, 'clean');
    const rootfs = makeFixtureRootfs(join(dir, 'clean-rootfs'));
    // Signed, so its DSSE envelopes are among what osb built.
    const keys = join(dir, 'clean-keys');
    mkdirSync(keys);
    const env = cleanEnv({ OSB_SIGN_PASSWORD: '' });
    expect(osb(['keygen'], { cwd: keys, env }).code).toBe(0);
    expect(osb(['initrd', '--no-deps', '--agent-init', '--rootfs-dir', rootfs, '--workdir', wd, '--sign-key', join(keys, 'cosign.key')], { env }).code).toBe(0);
    mkdirSync(join(wd, 'cache', 'debs'), { recursive: true });
    expect(readdirSync(wd).sort()).toEqual(['.osb', '.osb-owned', 'cache', 'logs', 'osb-initrd.img', 'osb-initrd.img.intoto.dsse.json', 'osb-initrd.img.intoto.json', 'osb-initrd.img.spdx.dsse.json', 'osb-initrd.img.spdx.json']);
    expect(osb(['clean', '--workdir', wd]).code).toBe(0);
    // The build state goes; the record of the workdir's settings stays (osb config --reset forgets it).
    expect(readdirSync(wd).sort()).toEqual(['.osb', '.osb-owned', 'cache']);
    expect(readdirSync(join(wd, '.osb'))).toEqual(['config.json']);
    expect(existsSync(join(rootfs, 'sbin/init'))).toBe(true); // not osb's to remove
    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    const r = osb(['clean', '--workdir', foreign]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`osb: refusing to clean ${foreign}: osb did not create it (no .osb-owned)`);
    expect(readdirSync(foreign)).toEqual(['notes.txt']);
  });
});

describe('bad input', () => {
  test('unknown command suggests the nearest', () => {
    expectUsage(['imgae'], 2, /^osb: unknown command 'imgae'$/);
    expect(osb(['imgae']).stderr).toContain('did you mean `osb image`?');
  });
  test('a missing or extra word after the command is refused, naming it', () => {
    expectUsage(['explain'], 2, /^osb: osb explain needs a TARGET$/);
    expectUsage(['explain', 'image', 'initrd'], 2, /^osb: unexpected argument 'initrd' for osb explain$/);
    expectUsage(['image', 'extra'], 2, /^osb: unexpected argument 'extra' for osb image$/);
    expect(expectUsage(['boot', 'console=ttyS0'], 2, /^osb: unexpected argument 'console=ttyS0' for osb boot$/).stderr).toContain('after `--`');
    expect(existsSync(join(dir, 'workdir'))).toBe(false);
  });
  test('unknown option suggests the nearest', () => {
    const r = expectUsage(['image', '--fs-typ', 'xfs'], 2, /^osb: unknown option --fs-typ$/);
    expect(r.stderr).toContain('did you mean --fs-type?');
  });
  test('bad value type and bad choice', () => {
    expectUsage(['image', '--image-size', 'big'], 2, /^osb: --image-size expects a number, got 'big'$/);
    expectUsage(['image', '--fs-type', 'ntfs'], 2, /^osb: --fs-type must be one of ext4, xfs, erofs; got 'ntfs'$/);
    expectUsage(['rootfs'], 2, /^osb: AGENT_INIT=maybe is not a yes\/no value$/, { AGENT_INIT: 'maybe' });
  });
  test('--jobs 0', () => {
    expectUsage(['rootfs', '--jobs', '0'], 2, /^osb: --jobs must be at least 1; got 0$/);
  });
  test('a workdir that is a file', () => {
    const f = join(dir, 'afile');
    writeFileSync(f, 'x');
    expectUsage(['initrd', '--workdir', f], 1, new RegExp(`^osb: workdir ${f} is not a directory$`));
  });
  test('a workdir that cannot be written creates nothing', () => {
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    // Root ignores permission bits, so make the directory truly read-only with a read-only mount.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      const wd = join(ro, 'wd');
      expectUsage(['rootfs', '--workdir', wd, '--agent-init'], 1, new RegExp(`^osb: cannot create workdir ${wd}: read-only filesystem \\(EROFS\\)$`));
      expect(readdirSync(ro)).toEqual([]);
    } finally {
      execFileSync('umount', [ro]);
    }
  });
  test('an unknown distro and release name the supported ones, before anything is created', () => {
    const wd = join(dir, 'wd-distro');
    const r = expectUsage(['rootfs', '--workdir', wd, '--distro', 'gentoo'], 1, /^osb: unknown distro 'gentoo'$/);
    expect(r.stderr).toMatch(/supported distros: debian, ubuntu/);
    expectUsage(['rootfs', '--workdir', wd, '--os-version', 'potato2'], 1, /^osb: unknown debian release 'potato2'$/);
    expect(existsSync(wd)).toBe(false);
  });
});
