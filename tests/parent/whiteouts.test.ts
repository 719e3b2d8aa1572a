import { afterAll, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyWhiteouts } from '../../oci-builder/parent.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';

afterAll(removeTempDirs);

test('whiteouts remove the named entry; an opaque whiteout empties its directory; other names are left alone', async () => {
  const d = tempDir('osb-wh-');
  for (const dir of ['etc/a', 'opq/sub', 'keep']) mkdirSync(join(d, dir), { recursive: true });
  for (const f of ['etc/hostname', 'etc/a/x', 'opq/f', 'opq/sub/g', 'keep/k']) writeFileSync(join(d, f), f);
  const n = await applyWhiteouts(d, ['./etc/', './etc/.wh.hostname', 'etc/.wh.a', 'opq/.wh..wh..opq', 'opq/new', 'keep/k', 'etc/.wh.absent']);
  expect(n).toBe(4);
  expect(readdirSync(join(d, 'etc'))).toEqual([]);
  expect(readdirSync(join(d, 'opq'))).toEqual([]);
  expect(existsSync(join(d, 'keep/k'))).toBe(true);
});

test('a whiteout that climbs out of the tree is refused', async () => {
  const d = tempDir('osb-wh-');
  await expect(applyWhiteouts(d, ['../.wh.etc'])).rejects.toThrow(/leaves the tree/);
});

test('an entry written through a symlink that leads out of the tree is refused; one inside the tree is fine', async () => {
  const { checkNoEscape } = await import('../../oci-builder/parent.js');
  const { mkdirSync: mk, symlinkSync } = await import('node:fs');
  const d = tempDir('osb-wh-');
  mk(join(d, 'usr/lib'), { recursive: true });
  symlinkSync('/usr/lib', join(d, 'lib'));
  symlinkSync('../../..', join(d, 'usr/up'));
  symlinkSync('usr/lib', join(d, 'lib64'));
  expect(() => checkNoEscape(d, ['lib/evil.so'])).toThrow(/through the symlink lib -> \/usr\/lib/);
  expect(() => checkNoEscape(d, ['./usr/up/etc/passwd'])).toThrow(/usr\/up -> \.\.\/\.\.\/\.\./);
  expect(() => checkNoEscape(d, ['lib64/ok.so', 'lib', 'usr/lib/x'])).not.toThrow();
});
