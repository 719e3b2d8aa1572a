/**
 * The tree's rpm database: where it is, what it lists, and handing it to the target's own rpm
 * when that rpm reads another backend than the sqlite Debian's rpm 4.18 writes.
 */
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RpmdbBackend } from '../../../distros/types.js';
import type { BuildContext } from '../../../lib/context.js';
import { OsbError } from '../../../lib/errors.js';
import { fileInTree } from '../../../lib/bootable.js';
import { withCopies } from '../../../lib/in-tree.js';
import type { InstalledPackage } from '../types.js';
import { rpmEnv } from './common.js';
import { byCodePoint } from '../../../lib/order.js';

/** The database a tree holds: where and in which backend (the target's rpm may read another). */
export function findRpmdb(rootfs: string): { path: string; backend: RpmdbBackend } | undefined {
  for (const path of ['/usr/lib/sysimage/rpm', '/var/lib/rpm']) {
    if (existsSync(join(rootfs, path, 'rpmdb.sqlite'))) return { path, backend: 'sqlite' };
    if (existsSync(join(rootfs, path, 'Packages.db'))) return { path, backend: 'ndb' };
  }
  return undefined;
}

const QF = '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n';

/** `body` on a private copy of the tree's sqlite database at `dbpath` (the file and its write-ahead log). */
function withCopy<T>(ctx: BuildContext, rootfs: string, dbpath: string, body: (dir: string) => Promise<T>): Promise<T> {
  const db = fileInTree(rootfs, `${dbpath}/rpmdb.sqlite`);
  if (!db) throw new OsbError(`the rpm database of ${rootfs} is not read: ${dbpath}/rpmdb.sqlite is not a file of the tree`, 'make the database a file of the tree (its links, if any, leading inside it)');
  // sqlite keeps the log beside the file it opened, its links followed.
  const files: Record<string, string> = { 'rpmdb.sqlite': db };
  if (lstatSync(`${db}-wal`, { throwIfNoEntry: false })?.isFile()) files['rpmdb.sqlite-wal'] = `${db}-wal`;
  return withCopies(ctx.workdir, 'rpmdb', files, body);
}

/** Every installed package with its version, read from the tree's rpm database. */
export async function listRpmPackages(ctx: BuildContext, rootfs: string): Promise<InstalledPackage[]> {
  const db = findRpmdb(rootfs);
  if (!db) throw new OsbError(`no rpm database in ${rootfs}`, 'the install did not complete; see the log');
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  // An ndb database (openSUSE) is read by the tree's own rpm, chrooted: links resolve in the tree.
  // The host's rpm reads sqlite, and would open ROOT + dbpath (and the database's -wal, -shm and
  // lock files, for writing) as the host resolves them: a parent's link there would read, or
  // write, a host file. It reads a copy of the database, found with the tree's links followed
  // inside the tree, in a directory of its own.
  const r = db.backend !== 'sqlite'
    ? await ctx.run(['chroot', rootfs, 'rpm', '-qa', '--qf', QF], { quiet: true, readOnly: true, env })
    : await withCopy(ctx, rootfs, db.path, (dir) => ctx.run(['rpm', '--dbpath', dir, '-qa', '--qf', QF], { quiet: true, readOnly: true, env }));
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, version, arch] = l.split('\t');
      return { name: name!, version: version!, arch: arch! }; // gpg-pubkey entries have no arch: rpm says (none)
    })
    .sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.version, b.version));
}

/**
 * Hand the database to the target's own rpm when it reads another backend (openSUSE's ndb): the
 * host's rpm exports the headers, the tree's rpm imports them. A tree without rpm keeps sqlite.
 */
export async function convertRpmdb(ctx: BuildContext, root: string, work: string, want: { path: string; backend: RpmdbBackend }): Promise<void> {
  if (want.backend === 'sqlite') return;
  // The tree's own rpmdb (busybox's rpm applet is no rpm and has no database).
  const rpmdb = join(root, 'usr/bin/rpmdb');
  if (!existsSync(rpmdb) || basename(realpathSync(rpmdb)) === 'busybox') {
    ctx.log.info(`the tree has no rpm of its own: its database stays sqlite in ${want.path}`);
    return;
  }
  const dump = join(work, 'rpmdb.export');
  await ctx.run(['rpmdb', '--root', root, '--dbpath', want.path, '--exportdb'], { quiet: true, stdoutFile: dump, env: rpmEnv(work) });
  for (const f of await readdir(join(root, want.path))) if (f.startsWith('rpmdb.sqlite') || f === '.rpm.lock') await rm(join(root, want.path, f), { force: true });
  await ctx.run(['chroot', root, 'rpmdb', '--importdb'], { input: await readFile(dump), env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
}

