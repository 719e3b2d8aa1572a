/** `osb check-deps --install` really installs what is missing (from Debian's archive). */
import { afterAll, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cleanEnv, osb } from '../helpers/cli.js';

jest.setTimeout(10 * 60_000);
const apt = (args: string[]) => execFileSync('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: 'ignore' });

// Whatever happens, leave the host with lz4 installed, as .ci/run set it up.
afterAll(() => {
  apt(['install', '-y', '-qq', 'lz4']);
});

test('a missing compressor is installed by --install, then check-deps passes', () => {
  apt(['remove', '-y', '-qq', 'lz4']);
  expect(existsSync('/usr/bin/lz4')).toBe(false);
  const before = osb(['check-deps', 'initrd', '--compression', 'lz4']);
  expect(before.code).toBe(1);
  expect(before.stdout).toMatch(/^initrd\s+lz4\s+MISSING/m);
  const r = osb(['check-deps', 'initrd', '--compression', 'lz4', '--install'], { env: cleanEnv() });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^initrd\s+lz4\s+ok/m);
  expect(existsSync('/usr/bin/lz4')).toBe(true);
});
