/**
 * Bad input: each case must fail with an error a user can act on, and leave neither a file at
 * the output path nor a temporary file beside it.
 */
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildInitrd, type Compression, type InitrdOptions } from '../../initrd-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { leftovers, makeCtx, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);
const realPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = realPath;
});

/** Build with `opts` (over a fresh fixture unless given) and return the error; asserts nothing was left. */
async function failure(opts: Partial<InitrdOptions> & { fixture?: { agentInit?: boolean } } = {}): Promise<{ message: string; hint?: string; name: string }> {
  const dir = tempDir();
  const out = join(dir, 'out');
  mkdirSync(out);
  const rootfsDir = opts.rootfsDir ?? makeFixtureRootfs(join(dir, 'rootfs'), opts.fixture);
  const output = join(out, 'osb-initrd.img');
  const err = await buildInitrd(makeCtx(dir), { output, compression: 'none', agentInit: true, ...opts, rootfsDir }).then(
    () => undefined,
    (e: unknown) => e as { message: string; hint?: string; name: string },
  );
  expect(err).toBeDefined();
  expect(existsSync(output)).toBe(false);
  expect(leftovers(out)).toEqual([]);
  return err!;
}

describe('initrd errors', () => {
  test('a rootfs without /init, and no agentInit', async () => {
    const e = await failure({ agentInit: false });
    expect(e.message).toBe('rootfs has no /init; an initrd needs one');
    expect(e.hint).toBe('build the rootfs with --agent-init (AGENT_INIT=yes)');
  });

  test('agentInit, but the rootfs has no /sbin/init for /init to point at', async () => {
    const e = await failure({ agentInit: true, fixture: { agentInit: false } });
    expect(e.message).toMatch(/^\/init -> \/sbin\/init \(added for agentInit\) leads nowhere: \/sbin\/init is not in the archive/);
    expect(e.hint).toMatch(/--agent-init/);
  });

  test('an /init symlink that dangles inside the rootfs', async () => {
    const dir = tempDir();
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    symlinkSync('/usr/lib/systemd/systemd', join(rootfs, 'init'));
    const e = await failure({ rootfsDir: rootfs });
    expect(e.message).toBe('/init leads nowhere: /usr/lib is not in the archive');
  });

  test('an unknown compression lists the valid ones', async () => {
    const e = await failure({ compression: 'bzip2' as Compression });
    expect(e.message).toBe('unknown compression "bzip2"; valid: zstd, gzip, xz, lz4, none');
  });

  test('a level the compressor does not have', async () => {
    const e = await failure({ compression: 'gzip', level: 12 });
    expect(e.message).toBe('compression level 12 is out of range for gzip (1-9)');
  });

  test.each<['zstd' | 'xz' | 'lz4', RegExp]>([
    ['zstd', /^zstd not found; it is in package zstd \(Debian\/Ubuntu\)/],
    ['xz', /^xz not found; it is in package xz-utils \(Debian\/Ubuntu\)/],
    ['lz4', /^lz4 not found; it is in package lz4 \(Debian\/Ubuntu\)/],
  ])('%s missing from PATH: the error names the package', async (compression, message) => {
    const empty = tempDir('osb-empty-path-');
    process.env.PATH = empty;
    const e = await failure({ compression });
    expect(e.message).toMatch(message);
    expect(e.hint).toMatch(/^apt-get install /);
  });

  test.each<['zstd' | 'xz' | 'lz4', RegExp]>([
    ['zstd', /^the initrd just written does not read back: the file ends inside a (block|block header) at byte \d+ of 2000\n/],
    ['xz', /xz -t -q -[\s\S]*the initrd just written is damaged/],
    ['lz4', /lz4 -t -q -[\s\S]*the initrd just written is damaged/],
  ])('%s: a stream the compressor cuts short (exit 0) is caught by the read-back: one line, nothing left', async (compression, message) => {
    // A compressor that loses its tail but says nothing: the real one, cut to 2000 bytes by
    // `head -c` when it writes stdout, by `truncate` when it writes the file itself (zstd -o).
    const bin = tempDir('osb-short-');
    const real = execFileSync('sh', ['-c', `command -v ${compression}`], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(bin, compression),
      `#!/bin/sh\ncase " $* " in *" -t "*) exec ${real} "$@";; *" -c "*) ${real} "$@" | head -c 2000; exit 0;; esac\n${real} "$@" || exit\nfor last; do :; done\ntruncate -s 2000 "$last"\n`,
      { mode: 0o755 },
    );
    process.env.PATH = `${bin}:${realPath}`;
    const e = await failure({ compression });
    expect(`${e.message}\n${e.hint}`).toMatch(message);
  });

  test.each<['none' | 'zstd']>([['none'], ['zstd']])('%s: a file that grows while it is read names the file', async (compression) => {
    const dir = tempDir();
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    const log = join(rootfs, 'var/log-growing');
    writeFileSync(log, Buffer.alloc(16 * 1024 * 1024));
    // A writer still running in the rootfs: appends as fast as it can until killed.
    const writer = spawn('sh', ['-c', `while :; do echo more >> '${log}'; done`], { stdio: 'ignore' });
    try {
      const start = statSync(log).size;
      while (statSync(log).size === start) await sleep(5);
      const e = await failure({ rootfsDir: rootfs, compression });
      expect(e.message).toMatch(/^\S+\/rootfs\/var\/log-growing changed size while it was archived \(expected \d+ bytes, it grew\)$/);
      expect(e.hint).toMatch(/still writing into the rootfs/);
    } finally {
      writer.kill();
    }
  });

  test('an interrupt stops the build and the compressor, leaving nothing', async () => {
    const dir = tempDir();
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    writeFileSync(join(rootfs, 'var/big'), '');
    truncateSync(join(rootfs, 'var/big'), 2 ** 31); // sparse; far more than can be read before the abort
    const abort = new AbortController();
    const ctx = makeCtx(dir, { signal: abort.signal });
    const output = join(dir, 'out', 'osb-initrd.img');
    mkdirSync(join(dir, 'out'));
    const build = buildInitrd(ctx, { rootfsDir: rootfs, output, compression: 'xz', agentInit: true });
    await sleep(300);
    abort.abort();
    await expect(build).rejects.toThrow(/aborted/);
    expect(leftovers(join(dir, 'out'))).toEqual([]);
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toMatch(/^xz --check=crc32/m);
  });

  test('a name longer than PATH_MAX', async () => {
    const dir = tempDir();
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    // 21 levels of 200-byte names under var/: 4224 bytes. Built with relative chdirs, as no single path
    // may be that long (perl: dash's cd refuses once $PWD would exceed PATH_MAX).
    const mkdeep = 'chdir $ARGV[0] or die; for (1..21) { mkdir "d" x 200 or die; chdir "d" x 200 or die } open(F, ">file") or die';
    execFileSync('perl', ['-e', mkdeep, join(rootfs, 'var')]);
    const e = await failure({ rootfsDir: rootfs });
    expect(e.message).toMatch(/^path too long for an initrd \(4224 bytes; the kernel's limit is PATH_MAX = 4096 with the NUL\): var\/d{56}…d{60}$/);
  });

  test('a file of 4 GiB, more than a newc header can describe', async () => {
    const dir = tempDir();
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    writeFileSync(join(rootfs, 'var/huge'), '');
    truncateSync(join(rootfs, 'var/huge'), 2 ** 32); // sparse: no disk used
    const e = await failure({ rootfsDir: rootfs });
    expect(e.message).toBe(`${join(rootfs, 'var/huge')} is 4294967296 bytes; a cpio newc archive holds files up to 4 GiB - 1`);
  });

  test('an --initrd-extra directory where the rootfs has a symlink', async () => {
    const dir = tempDir();
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    symlinkSync('usr/lib', join(rootfs, 'lib'));
    const extra = join(dir, 'extra');
    mkdirSync(join(extra, 'lib/modules'), { recursive: true });
    const e = await failure({ rootfsDir: rootfs, extraDirs: [extra] });
    expect(e.message).toBe(`--initrd-extra ${extra} has a directory at /lib where the rootfs has a symlink (-> usr/lib)`);
    expect(e.hint).toBe(`put those files under the symlink's target in --initrd-extra ${extra}`);
  });

  test('a rootfs that does not exist', async () => {
    const e = await failure({ rootfsDir: '/nonexistent/rootfs' });
    expect(e.message).toBe('rootfs directory /nonexistent/rootfs does not exist');
  });

  test('an output path inside the rootfs is refused before anything is written', async () => {
    const dir = tempDir();
    const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
    const e = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(rootfs, 'boot/initrd.img'), compression: 'none', agentInit: true }).catch((x: Error) => x);
    expect((e as Error).message).toBe(`the initrd ${join(rootfs, 'boot/initrd.img')} would be inside ${rootfs}, which is archived`);
    expect(existsSync(join(rootfs, 'boot'))).toBe(false);
    rmSync(rootfs, { recursive: true });
  });
});
