/**
 * osb removes the socket directories gpg leaves in /run/user/UID/gnupg for the throw-away homes
 * dnf and zypper use: the name it computes must be gpg's own, and it must see the homes created.
 */
import { expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpgSocketDir, watchHomes, zb32 } from '../../../rootfs-builder/engines/rpm/gpg-sockets.js';

test("the socket directory is gpgconf's own for any home", () => {
  for (const home of ['/x', '/tmp/tmpdir.AbC123', '/var/tmp/zypp.Id4AkL/zypp-trusted-krKn952P', `/tmp/${'long'.repeat(40)}`]) {
    const gpgconf = execFileSync('gpgconf', ['--homedir', home, '--list-dirs', 'socketdir'], { encoding: 'utf8' }).trim();
    if (gpgconf.startsWith('/run/user/')) expect(gpgSocketDir(home)).toBe(gpgconf);
    else expect(gpgconf).toBe(home); // no /run/user/UID here: gpg keeps sockets in the home itself
  }
});

test('z-base-32 as GnuPG encodes it', () => {
  expect(zb32(Buffer.from([0xff, 0x00]), 10)).toBe('9h'); // 11111 11100: 31 and 28
  expect(zb32(Buffer.alloc(15), 120)).toBe('y'.repeat(24));
});

test('watchHomes records the homes made under it, at any depth with `all`', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'osb-watch-'));
  try {
    const w = watchHomes(dir, true);
    mkdirSync(join(dir, 'zypp.AbCdEf'));
    await new Promise((ok) => setTimeout(ok, 50));
    mkdirSync(join(dir, 'zypp.AbCdEf', 'zypp-trusted-krKn952P'));
    await new Promise((ok) => setTimeout(ok, 50));
    expect(await w.stop()).toEqual(expect.arrayContaining([join(dir, 'zypp.AbCdEf'), join(dir, 'zypp.AbCdEf', 'zypp-trusted-krKn952P')]));
    const d = watchHomes(dir);
    mkdirSync(join(dir, 'tmpdir.Q1w2E3'));
    mkdirSync(join(dir, 'unrelated'));
    await new Promise((ok) => setTimeout(ok, 50));
    expect(await d.stop()).toEqual([join(dir, 'tmpdir.Q1w2E3')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
