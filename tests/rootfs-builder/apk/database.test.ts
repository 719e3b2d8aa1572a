/** The installed-database record format, archive path safety and trigger globs, in isolation. */
import { describe, expect, test } from '@jest/globals';
import { parseApkIndex } from '../../../rootfs-builder/engines/apk/apkindex.js';
import { formatInstalledRecord, parseInstalled } from '../../../rootfs-builder/engines/apk/database.js';
import { parseDeps } from '../../../rootfs-builder/engines/apk/deps.js';
import { safeRelative } from '../../../rootfs-builder/engines/apk/extract.js';
import { globMatches } from '../../../rootfs-builder/engines/apk/scripts.js';

const STANZA = `C:Q1PAEWIcBcXCQXg9PzCe0c+Y3rZBI=
P:busybox
V:1.37.0-r18
A:x86_64
S:512036
I:823296
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Natanael Copa <ncopa@alpinelinux.org>
t:1751000000
c:6a3e5b1d2f0c4e8b9a7d1c3e5f7a9b0c2d4e6f80
D:so:libc.musl-x86_64.so.1
p:cmd:busybox=1.37.0-r18
`;

test('an installed record: the index stanza, r:/q:, then F:/M: and R:/a:/Z: with root 0755/0644 left implicit', () => {
  const pkg = parseApkIndex(STANZA, 'test')[0]!;
  const text = formatInstalledRecord({
    pkg,
    replaces: parseDeps('busybox-initscripts', 'test'),
    replacesPriority: 0,
    scripts: new Map(),
    triggers: [],
    dirs: [
      { name: 'bin', uid: 0, gid: 0, mode: 0o755, files: [{ name: 'busybox', uid: 0, gid: 0, mode: 0o755, checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }] },
      { name: 'etc', uid: 0, gid: 0, mode: 0o755, files: [{ name: 'securetty', uid: 0, gid: 0, mode: 0o644, checksum: 'Q1BBBBBBBBBBBBBBBBBBBBBBBBBBBB=' }] },
      { name: 'var/empty', uid: 0, gid: 0, mode: 0o555, files: [] },
      { name: 'etc/shadow.d', uid: 0, gid: 42, mode: 0o2750, files: [{ name: 'x', uid: 0, gid: 42, mode: 0o640 }] },
    ],
  });
  expect(text).toBe(
    STANZA +
      'r:busybox-initscripts\n' +
      'F:bin\nR:busybox\na:0:0:755\nZ:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n' +
      'F:etc\nR:securetty\nZ:Q1BBBBBBBBBBBBBBBBBBBBBBBBBBBB=\n' +
      'F:var/empty\nM:0:0:555\n' +
      'F:etc/shadow.d\nM:0:42:2750\nR:x\na:0:42:640\n' +
      '\n',
  );
  const [back] = parseInstalled(text + text.replace(/busybox/g, 'toybox'));
  expect(back!.pkg).toEqual(pkg);
  expect(back!.dirs).toEqual(['bin', 'etc', 'var/empty', 'etc/shadow.d']);
  expect(back!.files).toEqual(['bin/busybox', 'etc/securetty', 'etc/shadow.d/x']);
  expect(back!.replaces.map((d) => d.name)).toEqual(['busybox-initscripts']);
  expect(parseInstalled(text + text.replace(/busybox/g, 'toybox')).map((e) => e.pkg.name)).toEqual(['busybox', 'toybox']);
});

describe('archive names', () => {
  test.each([
    ['bin/busybox', 'bin/busybox'],
    ['./bin/busybox', 'bin/busybox'],
    ['usr/share/', 'usr/share'],
    ['./', ''],
  ])('%s is installed as /%s', (name, rel) => expect(safeRelative(name, 'pkg')).toBe(rel));

  test.each([['../etc/passwd'], ['/etc/passwd'], ['usr/../../etc'], ['usr/..'], ['a//b'], ['a/./b'], ['bad\0name']])('%j is refused', (name) => {
    expect(() => safeRelative(name, 'evil-1.0')).toThrow(`evil-1.0: refusing archive entry '${name}': it points outside the rootfs`);
  });
});

test('trigger globs match as fnmatch(FNM_PATHNAME)', () => {
  expect(globMatches('/lib/modules/*', '/lib/modules/6.1.0')).toBe(true);
  expect(globMatches('/lib/modules/*', '/lib/modules/6.1.0/kernel')).toBe(false);
  expect(globMatches('/usr/share/fonts/*', '/usr/share/fonts/misc')).toBe(true);
  expect(globMatches('/bin', '/bin')).toBe(true);
  expect(globMatches('/bin', '/sbin')).toBe(false);
  expect(globMatches('/usr/lib/python3.?/site-packages', '/usr/lib/python3.1/site-packages')).toBe(true);
  expect(globMatches('/etc/[ab]*', '/etc/apk')).toBe(true);
  expect(globMatches('/etc/[!ab]*', '/etc/apk')).toBe(false);
});
