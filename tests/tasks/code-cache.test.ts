/**
 * The launcher's code cache (tasks/launch.ts): written after a command succeeds, private to the
 * user, taken by V8 on the next run (so not written again), replaced when damaged or not private,
 * never written by a failing command or with OSB_CODE_CACHE=0.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, osb } from '../helpers/cli.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

let rootfs: string;
beforeAll(() => {
  rootfs = makeFixtureRootfs(join(tempDir(), 'rootfs'));
});
afterAll(removeTempDirs);

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('the code cache', () => {
  test('a build writes one private cache for its command; the next run takes it (not written again); a damaged or group-writable one is replaced and the build is the same', () => {
    const home = tempDir();
    const wd = tempDir();
    const env = cleanEnv({ XDG_CACHE_HOME: home });
    const args = ['initrd', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--compression', 'gzip', '--agent-init'];
    const first = osb(args, { env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const dir = join(home, 'osb', 'code');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files).toEqual([expect.stringMatching(/-initrd\.full\.bin$/)]);
    const cache = join(dir, files[0]!);
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    const built = sha(join(wd, 'osb-initrd.img'));
    const before = statSync(cache).mtimeMs;

    expect(osb([...args, '--force'], { env }).code).toBe(0);
    expect(statSync(cache).mtimeMs).toBe(before); // V8 took it: a rejected cache is written again
    expect(sha(join(wd, 'osb-initrd.img'))).toBe(built);

    for (const mode of [0o600, 0o620]) {
      writeFileSync(cache, Buffer.alloc(4096, 0x5a));
      chmodSync(cache, mode);
      const r = osb([...args, '--force'], { env });
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(sha(join(wd, 'osb-initrd.img'))).toBe(built);
      expect(readFileSync(cache).equals(Buffer.alloc(4096, 0x5a))).toBe(false);
      expect(statSync(cache).mode & 0o777).toBe(0o600);
    }
  }, 120_000);

  test('a command that fails writes no cache, nor does any command with OSB_CODE_CACHE=0', () => {
    const home = tempDir();
    expect(osb(['initrd', '--no-such-option'], { env: cleanEnv({ XDG_CACHE_HOME: home }) }).code).toBe(2);
    expect(existsSync(join(home, 'osb', 'code')) && readdirSync(join(home, 'osb', 'code')).length).toBeFalsy();
    const off = tempDir();
    expect(osb(['list-distros'], { env: cleanEnv({ XDG_CACHE_HOME: off, OSB_CODE_CACHE: '0' }) }).code).toBe(0);
    expect(existsSync(join(off, 'osb'))).toBe(false);
    expect(osb(['list-distros'], { env: cleanEnv({ XDG_CACHE_HOME: off }) }).code).toBe(0);
    expect(readdirSync(join(off, 'osb', 'code'))).toEqual([expect.stringMatching(/-list-distros\.light\.bin$/)]);
  }, 60_000);
});
