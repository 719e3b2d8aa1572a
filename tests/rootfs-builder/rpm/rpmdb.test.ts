/**
 * The package list of an RPM tree, read by the host's rpm: a tree whose database is a link that
 * the host would resolve to a file of its own (a parent from someone else's registry) is read
 * as the guest sees it. The databases are real: rpmbuild makes a package, rpm records it.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listRpmPackages } from '../../../rootfs-builder/engines/rpm/rpmdb.js';
import { makeTestContext, removeTempDirs, tempDir } from '../../helpers/build-context.js';

let dir: string;
beforeAll(() => {
  dir = tempDir('osb-rpmdb-');
});
afterAll(removeTempDirs);

/** A database at `db` (a directory) that records one package, `name`, as rpm itself leaves it. */
function databaseWith(db: string, name: string): void {
  const top = join(dir, `build-${name}`);
  mkdirSync(top, { recursive: true });
  const spec = join(top, `${name}.spec`);
  writeFileSync(spec, `Name: ${name}\nVersion: 1.0\nRelease: 1\nSummary: ${name}\nLicense: MIT\nBuildArch: noarch\n%description\n${name}\n%files\n`);
  execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, spec], { stdio: 'ignore' });
  mkdirSync(db, { recursive: true });
  execFileSync('rpm', ['--dbpath', db, '--initdb']);
  execFileSync('rpm', ['--dbpath', db, '-i', '--justdb', '--nodeps', '--noscripts', join(top, 'RPMS', 'noarch', `${name}-1.0-1.noarch.rpm`)], { stdio: 'ignore' });
}

const listing = (d: string) => execFileSync('sh', ['-c', 'cd "$1" && find . -printf "%p %s %T@\\n" | sort', 'sh', d], { encoding: 'utf8' });

test('a tree of its own: the packages its database records', async () => {
  const tree = join(dir, 'plain');
  databaseWith(join(tree, 'var/lib/rpm'), 'plain-package');
  const wd = tempDir('osb-rpmdb-wd-');
  const got = await listRpmPackages(makeTestContext(wd, 'rootfs'), tree);
  expect(got.map((p) => `${p.name} ${p.version} ${p.arch}`)).toEqual(['plain-package 1.0-1 noarch']);
  expect(readdirSync(wd).filter((n) => n !== 'logs')).toEqual([]);
});

test("a database that is a link to the host's: the tree's is read, and the host's files are not touched", async () => {
  // On the host, the link's target records a package only the host has; inside the tree, the
  // same path holds the tree's own database.
  const host = tempDir('osb-rpmdb-host-');
  databaseWith(host, 'host-only-package');
  const before = listing(host);
  const tree = join(dir, 'linked');
  databaseWith(join(tree, host), 'tree-package');
  mkdirSync(join(tree, 'var/lib/rpm'), { recursive: true });
  symlinkSync(join(host, 'rpmdb.sqlite'), join(tree, 'var/lib/rpm/rpmdb.sqlite'));
  const wd = tempDir('osb-rpmdb-wd-');
  const got = await listRpmPackages(makeTestContext(wd, 'rootfs'), tree);
  expect(got.map((p) => p.name)).toEqual(['tree-package']);
  expect(listing(host)).toBe(before);
  // The copy rpm read is gone.
  expect(readdirSync(wd).filter((n) => n !== 'logs')).toEqual([]);
});

test('a database that is a link leading nowhere in the tree is refused in one line', async () => {
  const host = tempDir('osb-rpmdb-host-');
  databaseWith(host, 'host-only-package');
  const tree = join(dir, 'dangling');
  mkdirSync(join(tree, 'var/lib/rpm'), { recursive: true });
  symlinkSync(join(host, 'rpmdb.sqlite'), join(tree, 'var/lib/rpm/rpmdb.sqlite'));
  await expect(listRpmPackages(makeTestContext(tempDir('osb-rpmdb-wd-'), 'rootfs'), tree)).rejects.toThrow(/^the rpm database of .*dangling is not read: \/var\/lib\/rpm\/rpmdb\.sqlite is not a file of the tree$/);
});

test('the list is in code-point order, as `LC_ALL=C sort` gives it, whatever the host locale would say', async () => {
  const tree = join(dir, 'two');
  for (const name of ['acl', 'NetworkManager']) databaseWith(join(tree, 'var/lib/rpm'), name);
  const got = await listRpmPackages(makeTestContext(tempDir('osb-rpmdb-wd-'), 'rootfs'), tree);
  const names = got.map((p) => p.name);
  expect(names).toEqual(execFileSync('sh', ['-c', 'printf "%s\\n" "$@" | LC_ALL=C sort', 'sh', ...names], { encoding: 'utf8' }).trim().split('\n'));
  expect(names).toEqual(['NetworkManager', 'acl']);
});
