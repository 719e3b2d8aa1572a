/** apk's version ordering and dependency atoms (not semver). */
import { describe, expect, test } from '@jest/globals';
import { depMatches, formatDep, parseDep, parseDeps } from '../../../rootfs-builder/engines/apk/deps.js';
import { compareVersions, isValidVersion, versionSatisfies } from '../../../rootfs-builder/engines/apk/version.js';

describe('compareVersions follows apk, not semver', () => {
  // Each pair: left < right.
  const ascending: Array<[string, string]> = [
    ['1', '1.0'], // a longer version is newer
    ['1.0', '1.0.1'],
    ['1.2.3', '1.10'],
    ['1.01', '1.1'], // leading zeros after a dot count negatively
    ['1.001', '1.01'],
    ['1.0_alpha', '1.0_beta'],
    ['1.0_beta', '1.0_pre'],
    ['1.0_pre', '1.0_rc'],
    ['1.0_rc1', '1.0_rc2'],
    ['1.0_rc2', '1.0'], // pre-release suffixes sort before the release
    ['1.0', '1.0_p1'], // post-release suffixes after it
    ['1.0_cvs', '1.0_svn'],
    ['1.0_git20240101', '1.0_p1'],
    ['1.0', '1.0a'], // a letter after the digits
    ['1.0a', '1.0b'],
    ['1.0-r1', '1.0-r2'],
    ['1.0-r9', '1.0-r10'],
    ['1.0', '1.0-r1'],
    ['1.0_rc1-r5', '1.0-r0'],
    ['1.36.1-r29', '1.37.0-r0'],
    ['2.9', '2.10'],
    ['0.5.12-r3', '1.36.1-r29'],
  ];
  test.each(ascending)('%s < %s', (a, b) => {
    expect(compareVersions(a, b)).toBe(-1);
    expect(compareVersions(b, a)).toBe(1);
  });

  test.each([['1.0'], ['1.2.5-r10'], ['1.0_rc1'], ['3.6.8-r1']])('%s equals itself', (v) => {
    expect(compareVersions(v, v)).toBe(0);
  });

  test('validity as apk_version_validate sees it', () => {
    for (const v of ['1', '1.2.3', '1.0a', '1.0_rc1', '1.0_p2-r3', '20240101', '1.2.5-r10']) expect(isValidVersion(v)).toBe(true);
    for (const v of ['', 'abc', '1..2', '1.0-x', '1.0_foo', '1.0-r', '1.0+1', 'v1.0']) expect(isValidVersion(v)).toBe(false);
  });

  test('fuzzy ~ matches a token prefix', () => {
    expect(versionSatisfies('1.36.1-r29', { op: '~', version: '1.36' })).toBe(true);
    expect(versionSatisfies('1.37.0-r0', { op: '~', version: '1.36' })).toBe(false);
    expect(versionSatisfies('1.36.1-r29', { op: '>=', version: '1.36.1' })).toBe(true);
    expect(versionSatisfies('1.36.1', { op: '<', version: '1.36.1-r1' })).toBe(true);
    expect(versionSatisfies('1.0', { op: '=', version: '1.0' })).toBe(true);
    expect(versionSatisfies('1.0', { op: '>', version: '1.0' })).toBe(false);
  });
});

describe('dependency atoms', () => {
  test('the forms of a real APKINDEX D:/p:/i: line', () => {
    const deps = parseDeps('so:libc.musl-x86_64.so.1 /bin/sh !busybox-extras musl>=1.2.5 alpine-baselayout-data=3.6.8-r1 busybox~1.36 openssl@edge', 'test');
    expect(deps.map(formatDep)).toEqual(['so:libc.musl-x86_64.so.1', '/bin/sh', '!busybox-extras', 'musl>=1.2.5', 'alpine-baselayout-data=3.6.8-r1', 'busybox~1.36', 'openssl@edge']);
    expect(deps[2]).toEqual({ name: 'busybox-extras', conflict: true });
    expect(deps[3]).toEqual({ name: 'musl', conflict: false, constraint: { op: '>=', version: '1.2.5' } });
    expect(deps[6]).toMatchObject({ name: 'openssl', tag: 'edge' });
  });

  test('matching by name, version and checksum', () => {
    expect(depMatches(parseDep('musl>=1.2', 't'), 'musl', '1.2.5-r10')).toBe(true);
    expect(depMatches(parseDep('musl<1.2', 't'), 'musl', '1.2.5-r10')).toBe(false);
    // A provide without version satisfies only an unversioned dependency.
    expect(depMatches(parseDep('/bin/sh', 't'), '/bin/sh', undefined)).toBe(true);
    expect(depMatches(parseDep('cmd:sh>=1', 't'), 'cmd:sh', undefined)).toBe(false);
    expect(depMatches(parseDep('busybox><Q1abc=', 't'), 'busybox', '1.0', 'Q1abc=')).toBe(true);
    expect(depMatches(parseDep('busybox><Q1abc=', 't'), 'busybox', '1.0', 'Q1xyz=')).toBe(false);
  });

  test('malformed atoms are refused with the field named', () => {
    expect(() => parseDep('musl>=', 'D: of foo')).toThrow("malformed dependency 'musl>=' in D: of foo");
    expect(() => parseDep('musl>=x.y', 'D: of foo')).toThrow('malformed dependency');
    expect(() => parseDep('!', 'D: of foo')).toThrow('malformed dependency');
  });
});
