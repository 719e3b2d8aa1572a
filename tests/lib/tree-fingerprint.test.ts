/**
 * The tree's fingerprint, which decides whether an image or initrd made of a rootfs is up to
 * date: the walk and the initrd's own scan must agree byte for byte (or every run would build
 * again), and what a hand edit changes must change it, while what another workdir's hard link to
 * a shared file changes (its link count) must not.
 */
import { afterEach, expect, test } from '@jest/globals';
import { chmodSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanTree, type ArchiveEntry } from '../../initrd-builder/scan.js';
import { TreePrint, treeFingerprint } from '../../lib/tree-fingerprint.js';
import { removeTempDirs, SDE, tempDir } from '../helpers/build-context.js';

afterEach(() => removeTempDirs());

function tree(): string {
  const root = join(tempDir('osb-print-'), 'rootfs');
  mkdirSync(join(root, 'etc/deep/er'), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'guest\n');
  writeFileSync(join(root, 'etc/deep/er/file'), 'x');
  symlinkSync('hostname', join(root, 'etc/name'));
  // A name that is not UTF-8, and osb's ownership marker (bookkeeping, not the guest).
  writeFileSync(join(root, Buffer.from('etc/caf\xe9', 'latin1').toString('latin1')), 'latin1');
  writeFileSync(Buffer.concat([Buffer.from(root), Buffer.from('/etc/raw-\xff', 'latin1')]), 'raw');
  writeFileSync(join(root, '.osb-owned'), '');
  return root;
}

const scanned = (root: string): string => {
  const print = new TreePrint();
  scanTree(root, new Map<string, ArchiveEntry>(), { sourceDateEpoch: SDE, warn: () => undefined, print });
  return print.digest();
};

test('the initrd scan and the walk give the same fingerprint', () => {
  const root = tree();
  expect(treeFingerprint(root)).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(scanned(root)).toBe(treeFingerprint(root));
});

test('a hand edit changes it; a link from outside the tree and the ownership marker do not', () => {
  const root = tree();
  const before = treeFingerprint(root);
  writeFileSync(join(root, '.osb-owned'), 'other workdir');
  linkSync(join(root, 'etc/hostname'), join(root, '..', 'outside-link'));
  expect(treeFingerprint(root)).toBe(before);

  const changes: [string, () => void][] = [
    ['a file written (same size, new mtime)', () => (writeFileSync(join(root, 'etc/hostname'), 'GUEST\n'), utimesSync(join(root, 'etc/hostname'), 1, 1))],
    ['a file added', () => writeFileSync(join(root, 'etc/new'), '')],
    ['an empty directory added', () => mkdirSync(join(root, 'srv'))],
    ['a mode set', () => chmodSync(join(root, 'etc/deep'), 0o700)],
  ];
  let last = before;
  for (const [what, change] of changes) {
    change();
    const now = treeFingerprint(root);
    expect([what, now]).not.toEqual([what, last]);
    expect(scanned(root)).toBe(now);
    last = now;
  }
  expect(treeFingerprint(join(root, 'missing'))).toBe('unreadable: ENOENT');
});
