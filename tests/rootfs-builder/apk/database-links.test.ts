/**
 * The package list of an Alpine tree, read by osb itself from /lib/apk/db/installed: a tree
 * whose database is a link the host would resolve to a file of its own (a parent from someone
 * else's registry) is read as the guest sees it.
 */
import { afterAll, expect, test } from '@jest/globals';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readInstalled } from '../../../rootfs-builder/engines/apk/database.js';
import { removeTempDirs, tempDir } from '../../helpers/build-context.js';

afterAll(removeTempDirs);

const stanza = (name: string) => `C:Q1${Buffer.alloc(20, 1).toString('base64')}\nP:${name}\nV:1.0-r0\nA:x86_64\nS:1\nI:1\nT:${name}\nU:https://example.org\nL:MIT\n\n`;

test("a database that is a link: the file the guest sees is read, never the host's", async () => {
  const host = tempDir('osb-apkdb-host-');
  writeFileSync(join(host, 'installed'), stanza('host-only-package'));
  const tree = join(tempDir('osb-apkdb-'), 'rootfs');
  mkdirSync(join(tree, 'lib/apk/db'), { recursive: true });
  mkdirSync(join(tree, host), { recursive: true });
  writeFileSync(join(tree, host, 'installed'), stanza('tree-package'));
  symlinkSync(join(host, 'installed'), join(tree, 'lib/apk/db/installed'));
  expect((await readInstalled(tree)).map((e) => e.pkg.name)).toEqual(['tree-package']);
});

test('a database link that leads nowhere in the tree is no database, whatever the host has there', async () => {
  const host = tempDir('osb-apkdb-host-');
  writeFileSync(join(host, 'installed'), stanza('host-only-package'));
  const tree = join(tempDir('osb-apkdb-'), 'rootfs');
  mkdirSync(join(tree, 'lib/apk/db'), { recursive: true });
  symlinkSync(join(host, 'installed'), join(tree, 'lib/apk/db/installed'));
  await expect(readInstalled(tree)).rejects.toThrow(/^no apk database in .*: \/lib\/apk\/db\/installed is missing or not a file of the tree$/);
});
