/**
 * The resolver against APKINDEX stanzas in Alpine's format: versioned and `so:` provides, the
 * `/bin/sh` virtual chosen by `k:` priority, install_if, conflicts, version constraints, and
 * errors that name what cannot be had and the chain that needed it.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseApkIndex, type IndexPackage } from '../../../rootfs-builder/engines/apk/apkindex.js';
import { parseDeps } from '../../../rootfs-builder/engines/apk/deps.js';
import { resolve } from '../../../rootfs-builder/engines/apk/resolve.js';
import { REPO_ROOT } from '../../helpers/fixture-rootfs.js';

const main = parseApkIndex(readFileSync(join(REPO_ROOT, 'tests/fixtures/apk/APKINDEX.v3.22-main-x86_64.sample'), 'utf8'), 'fixture', { name: 'main', url: 'http://mirror/v3.22/main' });
const BASE = 'alpine-baselayout busybox musl-utils';
const names = (world: string, index: readonly IndexPackage[] = main) => resolve(index, parseDeps(world, 'world')).packages.map((p) => p.name);

/** A small index in the same format, one stanza per `name version [X:value ...]` line. */
function index(spec: string): IndexPackage[] {
  const stanzas = spec
    .trim()
    .split('\n')
    .map((line, i) => {
      const [name, version, ...fields] = line.trim().split(/\s+/);
      return [`C:Q1${Buffer.alloc(20, i + 1).toString('base64')}`, `P:${name}`, `V:${version}`, 'A:x86_64', 'S:1', 'I:1', 'T:t', 'U:u', 'L:MIT', ...fields].join('\n') + '\n';
    });
  return parseApkIndex(stanzas.join('\n'), 'inline');
}

describe('resolving the base world against Alpine stanzas', () => {
  test('the set, with /bin/sh from busybox-binsh (k:100 over dash-binsh k:60) and so: from musl', () => {
    const r = resolve(main, parseDeps(BASE, 'world'));
    expect(r.packages.map((p) => `${p.name}-${p.version}`).sort()).toEqual([
      'alpine-baselayout-3.7.0-r0',
      'alpine-baselayout-data-3.7.0-r0',
      'busybox-1.37.0-r18',
      'busybox-binsh-1.37.0-r18',
      'musl-1.2.5-r10',
      'musl-utils-1.2.5-r10',
      'scanelf-1.3.8-r1',
    ]);
    expect(r.chains.get('busybox-binsh')).toEqual(['world', 'alpine-baselayout']);
    expect(r.chains.get('scanelf')).toEqual(['world', 'musl-utils']);
    expect(r.packages[0]!.repo?.name).toBe('main');
  });

  test('install order puts each package after what it depends on', () => {
    const order = names(BASE);
    const before = (a: string, b: string) => expect(order.indexOf(a)).toBeLessThan(order.indexOf(b));
    before('musl', 'busybox');
    before('busybox', 'busybox-binsh');
    before('busybox-binsh', 'alpine-baselayout');
    before('alpine-baselayout-data', 'alpine-baselayout');
    before('scanelf', 'musl-utils');
  });

  test('deterministic: the order of the index and of the world does not matter', () => {
    const reversed = [...main].reverse();
    expect(names('musl-utils busybox alpine-baselayout', reversed)).toEqual(names(BASE));
  });

  test('so: dependencies pull in their providers (libssl3 needs so:libcrypto.so.3)', () => {
    expect(names('libssl3').sort()).toEqual(['libcrypto3', 'libssl3', 'musl']);
  });

  test('install_if: ssl_client comes with busybox and libssl3, busybox-doc only with docs', () => {
    expect(names(BASE)).not.toContain('ssl_client');
    expect(names(`${BASE} libssl3`)).toContain('ssl_client');
    expect(names(BASE)).not.toContain('busybox-doc');
    const withDocs = resolve(main, parseDeps(`${BASE} docs`, 'world'));
    expect(withDocs.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['busybox-doc', 'man-pages']));
    expect(withDocs.chains.get('busybox-doc')).toEqual(['world', 'install_if(docs busybox=1.37.0-r18)']);
  });

  test('a world entry can choose the other provider of a virtual', () => {
    const order = names(`${BASE} dash-binsh`);
    expect(order).toEqual(expect.arrayContaining(['dash-binsh', 'dash']));
    expect(order).not.toContain('busybox-binsh');
  });
});

describe('version constraints and choices', () => {
  test('the newest version that satisfies every constraint, even one met late', () => {
    const idx = index(`
      a 1.0-r0 D:c
      b 1.0-r0 D:c<2
      c 1.0-r0
      c 2.0-r0
      c 2.0_rc1-r0`);
    expect(resolve(idx, parseDeps('a', 'w')).packages.map((p) => `${p.name}-${p.version}`)).toEqual(['c-2.0-r0', 'a-1.0-r0']);
    expect(resolve(idx, parseDeps('a b', 'w')).packages.map((p) => `${p.name}-${p.version}`)).toEqual(['c-1.0-r0', 'a-1.0-r0', 'b-1.0-r0']);
    expect(resolve(idx, parseDeps('c<2.0', 'w')).packages.map((p) => p.version)).toEqual(['2.0_rc1-r0']);
  });

  test('the package carrying a name wins over a higher-priority provider of it', () => {
    const idx = index(`
      pulseaudio 1-r0 k:10
      pipewire-pulse 1-r0 k:20 p:pulseaudio=1`);
    expect(names('pulseaudio', idx)).toEqual(['pulseaudio']);
  });

  test('versioned provides: the highest priority, then the highest provided version', () => {
    const idx = index(`
      libfoo 1.0-r0 p:so:libfoo.so.1=1.0
      libfoo-ng 2.0-r0 p:so:libfoo.so.1=2.0
      app 1-r0 D:so:libfoo.so.1`);
    expect(names('app', idx)).toEqual(['libfoo-ng', 'app']);
  });

  test('a virtual with several providers and no priority is not guessed', () => {
    const idx = index(`
      mymailreader 1-r0 p:mail-reader
      mailreadplus 1-r0 p:mail-reader
      app 1-r0 D:mail-reader`);
    expect(() => names('app', idx)).toThrow('mail-reader (needed by world → app) is a virtual package provided by mailreadplus, mymailreader, and none is preferred');
    expect(names('app mymailreader', idx).sort()).toEqual(['app', 'mymailreader']);
  });
});

describe('errors name what cannot be had and who needed it', () => {
  test('a missing package, directly and through a chain', () => {
    expect(() => names(`${BASE} nosuchpkg`)).toThrow('unsatisfiable dependency nosuchpkg (needed by world): no package named or providing nosuchpkg');
    const idx = index(`
      a 1.0-r0 D:b
      b 1.0-r0 D:c>=2
      c 1.0-r0`);
    expect(() => names('a', idx)).toThrow('unsatisfiable dependency c>=2 (needed by world → a → b): available: c-1.0-r0');
  });

  test('two constraints that no version meets', () => {
    const idx = index(`
      a 1.0-r0 D:c>=2
      b 1.0-r0 D:c<2
      c 1.0-r0
      c 2.0-r0`);
    expect(() => names('a b', idx)).toThrow(/^unsatisfiable dependency c>=2 \(needed by world → a\): it conflicts with other requirements \(c<2\)$/);
  });

  test('a ! conflict with a package something else needs', () => {
    const idx = [...main, ...index('osb-conflicts 1.0-r0 D:!busybox')];
    expect(() => names(`${BASE} osb-conflicts`, idx)).toThrow('conflict: osb-conflicts (needed by world) forbids busybox, but busybox-1.37.0-r18 is needed by world');
  });

  test('two packages providing the same versioned name', () => {
    const idx = index(`
      server-a 1-r0 p:theservice=1
      server-b 1-r0 p:theservice=2`);
    expect(() => names('server-a server-b', idx)).toThrow('conflict: server-a and server-b both provide theservice');
  });
});
