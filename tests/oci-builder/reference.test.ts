/** Image references: what podman and skopeo accept is accepted, the rest is a usage error (exit 2). */
import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../lib/errors.js';
import { parseReference } from '../../oci-builder/reference.js';

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
