/**
 * The tree's rpm database: where it is, what it lists, and handing it to the target's own rpm
 * when that rpm reads another backend than the sqlite Debian's rpm 4.18 writes.
 */
import { existsSync, realpathSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RpmdbBackend } from '../../../distros/types.js';
import type { BuildContext } from '../../../lib/context.js';
import { OsbError } from '../../../lib/errors.js';
import { leavesTreeOnHost } from '../../../lib/in-tree.js';
import type { InstalledPackage } from '../types.js';
import { rpmEnv } from './common.js';

/** The database a tree holds: where and in which backend (the target's rpm may read another). */
export function findRpmdb(rootfs: string): { path: string; backend: RpmdbBackend } | undefined {
  for (const path of ['/usr/lib/sysimage/rpm', '/var/lib/rpm']) {
    if (existsSync(join(rootfs, path, 'rpmdb.sqlite'))) return { path, backend: 'sqlite' };
    if (existsSync(join(rootfs, path, 'Packages.db'))) return { path, backend: 'ndb' };
  }
  return undefined;
}

const QF = '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n';

/** Every installed package with its version, read from the tree's rpm database. */
export async function listRpmPackages(ctx: BuildContext, rootfs: string): Promise<InstalledPackage[]> {
  const db = findRpmdb(rootfs);
  if (!db) throw new OsbError(`no rpm database in ${rootfs}`, 'the install did not complete; see the log');
  // The host's rpm opens ROOT + dbpath as the host resolves it: a parent's link there would read the host's database.
  const away = await leavesTreeOnHost(rootfs, db.path);
  if (away) throw new OsbError(`the rpm database of ${rootfs} is not read: ${away}`, 'make the database directory a directory of the tree (or a relative link inside it)');
  // The host's rpm reads sqlite; an ndb database (openSUSE) is read by the tree's own rpm.
  const argv = db.backend === 'sqlite' ? ['rpm', '--root', rootfs, '--dbpath', db.path, '-qa', '--qf', QF] : ['chroot', rootfs, 'rpm', '-qa', '--qf', QF];
  const r = await ctx.run(argv, { quiet: true, readOnly: true, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, version, arch] = l.split('\t');
      return { name: name!, version: version!, arch: arch! }; // gpg-pubkey entries have no arch: rpm says (none)
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
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

