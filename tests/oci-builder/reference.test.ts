/** Image references: what podman and skopeo accept is accepted, the rest is a usage error (exit 2). */
import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../lib/errors.js';
import { checkRepository, checkTag, parseKeyValue, parseKeyValues, parseReference, parseRegistryTarget, parseRemoteReference } from '../../oci-builder/reference.js';

describe('image references', () => {
  test.each([
    ['osb', 'osb:latest'],
    ['localhost/osb:1', 'localhost/osb:1'],
    ['registry.example.com:5000/team/guest-os_x:v1.2-rc.3', 'registry.example.com:5000/team/guest-os_x:v1.2-rc.3'],
    ['ghcr.io/openchami/image-build:3.0', 'ghcr.io/openchami/image-build:3.0'],
    ['library/debian', 'library/debian:latest'],
  ])('%s is %s', (ref, full) => {
    expect(parseReference(ref).full).toBe(full);
  });

  test.each(['', 'OSB', 'localhost/osb:', 'localhost/osb:-x', 'a//b', 'osb:has space', 'Upper/osb', `osb:${'x'.repeat(129)}`, 'osb@sha256:abc', '-osb'])('%j is refused as a usage error', (ref) => {
    expect(() => parseReference(ref)).toThrow(UsageError);
  });
});

describe('the other grammars: tags, repositories, HOST[:PORT]/REPO, KEY=VALUE', () => {
  test.each(['v1', 'latest', '_x', '1.0-rc.2', 'A'.repeat(128)])('tag %s is accepted', (t) => expect(checkTag(t)).toBe(t));
  test.each(['', '.v1', '-v1', 'a b', 'a/b', 'a:b', 'x'.repeat(129)])('tag %j is refused', (t) => expect(() => checkTag(t)).toThrow(UsageError));
  test.each(['a', 'guests/base', 'a.b_c__d---e/f'])('repository %s is accepted', (r) => expect(checkRepository(r, '--registry-mount-from')).toBe(r));
  test.each(['', 'Base', 'a//b', '/a', 'a/', 'a_', 'a:1', 'a b'])('repository %j is refused', (r) => expect(() => checkRepository(r, '--registry-mount-from')).toThrow(UsageError));
  test('HOST[:PORT]/REPO and [SCHEME]HOST/REPO[:TAG|@DIGEST]', () => {
    expect(parseRegistryTarget('[::1]:5000/a/b', '--cache-to')).toEqual({ host: '[::1]:5000', repo: 'a/b' });
    for (const bad of ['a', 'host/', 'host:0/a', 'host:70000/a', 'Host/a', 'host/a:1', '-host/a']) expect(() => parseRegistryTarget(bad, '--cache-from')).toThrow(/^--cache-from must be HOST\[:PORT\]\/REPO/);
    expect(parseRemoteReference('docker://reg:5000/g/base@sha256:' + 'a'.repeat(64), '--parent', 'docker://')).toEqual({ host: 'reg:5000', repo: 'g/base', tag: 'sha256:' + 'a'.repeat(64) });
    expect(parseRemoteReference('docker://reg/g/base', '--parent', 'docker://').tag).toBe('latest');
    expect(() => parseRemoteReference('docker://reg/g/base:bad tag', '--parent', 'docker://')).toThrow(UsageError);
  });
  test('KEY=VALUE: a key of letters, digits and . _ / -, any value', () => {
    expect(parseKeyValues(['org.example/a_b-c=x = y', 'k='], '--label')).toEqual({ 'org.example/a_b-c': 'x = y', k: '' });
    for (const bad of ['novalue', '=x', 'a b=c', 'a\tb=c', 'ключ=x']) expect(() => parseKeyValue(bad, '--label')).toThrow(UsageError);
  });
});
