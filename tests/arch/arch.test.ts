/**
 * aarch64 guests from this x86_64 host, the parts that need no build: the binfmt_misc check
 * (against directories laid out as binfmt_misc lays them out, and for real in a mount namespace
 * where binfmt_misc is not mounted), the refusals, the qemu line, the GPT type, the kernel's
 * make arguments and check-deps.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binfmtStatus } from '../../lib/binfmt.js';
import { qemuArgv } from '../../lib/qemu.js';
import { archMakeArgs, kernelCompiler } from '../../kernel-builder/build.js';
import { gptRootType, readTable, sfdiskScript, writeTable } from '../../image-builder/partition.js';
import { cleanEnv, errorLine, OSB, osb } from '../helpers/cli.js';
import { makeCtx } from '../initrd-builder/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'osb-arch-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory shaped like a mounted binfmt_misc, with a qemu-aarch64 entry as qemu-user-static writes it. */
function fakeBinfmt(name: string, opts: { status?: string; entry?: string | null }): string {
  const d = join(tmp, name);
  mkdirSync(d);
  if (opts.status !== undefined) writeFileSync(join(d, 'status'), `${opts.status}\n`);
  if (opts.entry !== null && opts.entry !== undefined) writeFileSync(join(d, 'qemu-aarch64'), opts.entry);
  return d;
}
const ENTRY = (state: string, flags: string) =>
  `${state}\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: ${flags}\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n`;

describe('binfmt_misc check', () => {
  test('registered, enabled, with F: ok', () => {
    expect(binfmtStatus('aarch64', fakeBinfmt('ok', { status: 'enabled', entry: ENTRY('enabled', 'PF') }))).toEqual({ ok: true });
  });
  const cases: [string, { status?: string; entry?: string | null }, RegExp][] = [
    ['not mounted', {}, /binfmt_misc is not mounted at/],
    ['disabled as a whole', { status: 'disabled', entry: ENTRY('enabled', 'PF') }, /binfmt_misc is disabled/],
    ['no qemu-aarch64 entry', { status: 'enabled', entry: null }, /no binfmt_misc handler for aarch64 is registered/],
    ['entry disabled', { status: 'enabled', entry: ENTRY('disabled', 'PF') }, /handler qemu-aarch64 is disabled/],
    ['entry without F', { status: 'enabled', entry: ENTRY('enabled', 'P') }, /lacks the F flag/],
  ];
  test.each(cases)('%s: refused, with how to fix it', (name, layout, why) => {
    const r = binfmtStatus('aarch64', fakeBinfmt(name.replace(/\W/g, '-'), layout));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.why).toMatch(why);
    expect(r.fix).toMatch(/update-binfmts|qemu-user-static/);
  });
});

describe('osb rootfs refuses what it cannot build, before any work', () => {
  test('an arch the distro does not ship: the list of the arches it has', () => {
    const r = osb(['rootfs', '--distro', 'alpine', '--arch', 'mips', '--workdir', join(tmp, 'wd-mips'), '--cache-dir', join(tmp, 'cache-mips')]);
    expect(r.code).not.toBe(0);
    expect(errorLine(r.stderr)).toMatch(/alpine has no architecture 'mips'; it has x86_64, aarch64/);
    expect(existsSync(join(tmp, 'cache-mips'))).toBe(false);
    const d = osb(['rootfs', '--distro', 'debian', '--arch', 'mips', '--workdir', join(tmp, 'wd-mips2')]);
    expect(errorLine(d.stderr)).toMatch(/debian has no architecture 'mips'; it has x86_64, aarch64/);
  });

  test('osb squashfs for a foreign arch: refused, since its boot initrd holds the host busybox', () => {
    const wd = join(tmp, 'wd-squashfs');
    const r = osb(['squashfs', '--arch', 'aarch64', '--workdir', wd]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/cannot make the squashfs boot initrd for aarch64 on this x86_64 host/);
    expect(existsSync(join(wd, 'rootfs'))).toBe(false);
  });

  test('a foreign arch on a host where binfmt_misc is not mounted: one line saying how to enable it, and no download', () => {
    // A private mount namespace in which /proc/sys/fs/binfmt_misc is an empty tmpfs: to osb this
    // host has no binfmt_misc, as a fresh container or VM without binfmt-support would.
    const cache = join(tmp, 'cache-nobinfmt');
    const wd = join(tmp, 'wd-nobinfmt');
    const script = 'mount -t tmpfs none /proc/sys/fs/binfmt_misc && exec "$0" "$@"';
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, OSB, 'rootfs', '--arch', 'aarch64', '--agent-init', '--workdir', wd, '--cache-dir', cache], {
      encoding: 'utf8',
      env: cleanEnv(),
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('osb: '));
    expect(lines[0]).toMatch(/^osb: .*cannot build a rootfs for aarch64 on this x86_64 host: binfmt_misc is not mounted at \/proc\/sys\/fs\/binfmt_misc$/);
    expect(lines.filter((l) => /hint/.test(l))).toEqual([expect.stringMatching(/^osb: hint: mount -t binfmt_misc binfmt_misc \/proc\/sys\/fs\/binfmt_misc && update-binfmts --enable qemu-aarch64/)]);
    // Nothing was fetched: no package cache, no base tree, no mmdebstrap in the log.
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
    expect(r.stdout + r.stderr).not.toMatch(/mmdebstrap|Get:|downloading/i);
  });
});

describe('Debian and Ubuntu for aarch64 (plan only: ports.ubuntu.com is out of reach here)', () => {
  test.each([
    ['debian', 'http://deb.debian.org/debian'],
    ['ubuntu', 'http://ports.ubuntu.com/ubuntu-ports'],
  ])('%s: mmdebstrap --arch=arm64 from %s', (distro, mirror) => {
    const r = osb(['rootfs', '--distro', distro, '--arch', 'aarch64', '--agent-init', '--workdir', join(tmp, `wd-plan-${distro}`), '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`would run: mmdebstrap --variant=minbase .*--arch=arm64 .* ${mirror.replace(/[.]/g, '\\.')}$`, 'm'));
  });
});

describe('booting aarch64', () => {
  test('qemu-system-aarch64 -M virt -cpu max under TCG, console on the PL011, image over virtio-blk', () => {
    const initrd = qemuArgv({ arch: 'aarch64', kernel: 'K', accel: 'tcg', memoryMiB: 512, extraArgs: [], artifact: { kind: 'initrd', path: 'I' } });
    expect(initrd[0]).toBe('qemu-system-aarch64');
    expect(initrd.join(' ')).toContain('-accel tcg -cpu max,pauth-impdef=on');
    expect(initrd.join(' ')).toContain('-machine virt -m 512 -kernel K -initrd I');
    expect(initrd.at(-1)).toMatch(/^console=ttyAMA0 /);
    const image = qemuArgv({ arch: 'aarch64', kernel: 'K', accel: 'tcg', memoryMiB: 512, extraArgs: [], artifact: { kind: 'image', path: 'D', format: 'raw', fsType: 'ext4', nvdimm: true, sizeBytes: 64 << 20 } });
    expect(image.join(' ')).toContain('-drive file=D,format=raw,if=virtio,readonly=on');
    expect(image.join(' ')).not.toMatch(/nvdimm/);
    expect(image.at(-1)).toContain('root=/dev/vda1');
  });

  test('x86_64 lines are unchanged', () => {
    const x = qemuArgv({ kernel: 'K', accel: 'tcg', memoryMiB: 512, extraArgs: [], artifact: { kind: 'initrd', path: 'I' } });
    expect(x.slice(0, 1)).toEqual(['qemu-system-x86_64']);
    expect(x.join(' ')).toContain('-accel tcg -machine q35');
    expect(x.at(-1)).toMatch(/^console=ttyS0 /);
  });
});

describe('kernel and image for aarch64', () => {
  test('cross-compiles with CROSS_COMPILE=aarch64-linux-gnu- from x86_64, natively on arm64', () => {
    expect(archMakeArgs('aarch64', 'x64')).toEqual(['ARCH=arm64', 'CROSS_COMPILE=aarch64-linux-gnu-']);
    expect(archMakeArgs('aarch64', 'arm64')).toEqual(['ARCH=arm64']);
    expect(archMakeArgs('x86_64', 'x64')).toEqual(['ARCH=x86_64']);
    expect(kernelCompiler('aarch64', 'x64')).toBe('aarch64-linux-gnu-gcc');
    expect(() => archMakeArgs('mips', 'x64')).toThrow(/no kernel config for architecture mips/);
  });

  test("the kernel's fragment input covers common/ and the arch's own: aarch64 fragments do not rebuild x86_64", async () => {
    const { configsDir } = await import('../../kernel-builder/config.js');
    const { kernelInputs } = await import('../../kernel-builder/index.js');
    const { hashPath } = await import('../../lib/hash.js');
    const only = (arch: string) => {
      const d = join(tmp, `configs-${arch}`);
      mkdirSync(d);
      execFileSync('cp', ['-a', join(configsDir(), 'common'), join(configsDir(), arch), d]);
      return hashPath(d);
    };
    const inputs = async (arch: string) => (await kernelInputs(makeCtx(tmp), { arch }))['osb config fragments'];
    expect(await inputs('x86_64')).toBe(await only('x86_64'));
    expect(await inputs('aarch64')).toBe(await only('aarch64'));
    expect((await kernelInputs(makeCtx(tmp), { arch: 'aarch64' })).compiler).toMatch(/^aarch64-linux-gnu-gcc /);
  });

  test('a GPT aarch64 image carries the arm64 root partition type; x86_64 the x86-64 root type', async () => {
    const disk = join(tmp, 'gpt.img');
    writeFileSync(disk, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '8M', disk]);
    const spec = { table: 'gpt' as const, diskBytes: 8 << 20, startBytes: 1 << 20, sizeBytes: 6 << 20, diskId: '11111111-2222-3333-4444-555555555555', partitionUuid: '66666666-7777-8888-9999-aaaaaaaaaaaa', gptType: gptRootType('aarch64') };
    await writeTable(makeCtx(tmp), disk, spec);
    expect((await readTable(makeCtx(tmp), disk)).type).toBe('B921B045-1DF0-41C3-AF44-4C6F280D3FAE');
    expect(sfdiskScript({ ...spec, gptType: gptRootType('x86_64') })).toContain('type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709');
  });
});

describe('check-deps --arch aarch64', () => {
  test('names the cross compiler, qemu-user, arch-test, qemu-system-aarch64 and the binfmt handler', () => {
    const r = osb(['check-deps', 'rootfs', 'kernel', 'boot', '--arch', 'aarch64', '--json']);
    const j = JSON.parse(r.stdout) as { checks: { target: string; name: string; ok: boolean; detail: string; packages?: { debian: string } }[] };
    const by = (n: string) => j.checks.find((c) => c.name === n);
    expect(by('aarch64-linux-gnu-gcc')).toMatchObject({ target: 'kernel', packages: { debian: 'gcc-aarch64-linux-gnu' } });
    expect(by('qemu-aarch64-static')).toMatchObject({ target: 'rootfs', packages: { debian: 'qemu-user-static' } });
    expect(by('update-binfmts')).toMatchObject({ target: 'rootfs', packages: { debian: 'binfmt-support' } });
    expect(by('arch-test')).toMatchObject({ target: 'rootfs' });
    expect(by('qemu-system-aarch64')).toMatchObject({ target: 'boot', packages: { debian: 'qemu-system-arm' } });
    expect(by('binfmt_misc handler qemu-aarch64')).toMatchObject({ target: 'rootfs', packages: { debian: 'qemu-user-static' } });
    // This machine has them all (CI installs them and registers the handler).
    expect(j.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.code).toBe(0);
  });

  test('the host arch needs none of them', () => {
    const j = JSON.parse(osb(['check-deps', 'rootfs', 'kernel', 'boot', '--json']).stdout) as { checks: { name: string }[] };
    expect(j.checks.map((c) => c.name)).not.toEqual(expect.arrayContaining(['aarch64-linux-gnu-gcc']));
    expect(j.checks.map((c) => c.name).filter((n) => /aarch64|binfmt/.test(n))).toEqual([]);
  });
});
