/**
 * apk's database in the tree, in the formats apk-tools 2 reads back (src/database.c):
 *   lib/apk/db/installed    index stanza + r: q: + F:/M: per directory, R:/a:/Z: per file
 *                           (apk_db_write_fdb; M:/a: only when not root:root 0755/0644)
 *   lib/apk/db/scripts.tar  one entry per script, "<name>-<version>.<Q1 checksum>.<type>"
 *                           (apk_db_scriptdb_write), ending with end-of-archive blocks
 *   lib/apk/db/triggers     "<Q1 checksum> <glob> <glob>..." per package with triggers
 *   etc/apk/world, arch, repositories and keys/, so `apk` in the guest works on the tree.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveInTree } from '../../../lib/bootable.js';
import { OsbError } from '../../../lib/errors.js';
import { mkdirMode, writeFileMode } from '../../../lib/modes.js';
import { formatStanzaHead, packageFromStanza, stanzas, type IndexPackage } from './apkindex.js';
import { formatDeps, parseDeps, type Dep } from './deps.js';
import type { OwnedDir } from './extract.js';
import type { TrustedKey } from './keys.js';
import type { ScriptType } from './package.js';
import { writeTar } from './tar.js';

export interface InstalledRecord {
  readonly pkg: IndexPackage;
  readonly replaces: readonly Dep[];
  readonly replacesPriority: number;
  readonly dirs: readonly OwnedDir[];
  readonly scripts: ReadonlyMap<ScriptType, Buffer>;
  /** Trigger globs from .PKGINFO `triggers`. */
  readonly triggers: readonly string[];
}

const acl = (field: string, uid: number, gid: number, mode: number) => `${field}:${uid}:${gid}:${mode.toString(8)}\n`;

/** One package's record in lib/apk/db/installed, blank line included. */
export function formatInstalledRecord(r: InstalledRecord): string {
  let out = formatStanzaHead(r.pkg);
  if (r.replaces.length) out += `r:${formatDeps(r.replaces)}\n`;
  if (r.replacesPriority) out += `q:${r.replacesPriority}\n`;
  for (const d of r.dirs) {
    out += `F:${d.name}\n`;
    if (d.uid !== 0 || d.gid !== 0 || d.mode !== 0o755) out += acl('M', d.uid, d.gid, d.mode);
    for (const f of d.files) {
      out += `R:${f.name}\n`;
      if (f.uid !== 0 || f.gid !== 0 || f.mode !== 0o644) out += acl('a', f.uid, f.gid, f.mode);
      if (f.checksum) out += `Z:${f.checksum}\n`;
    }
  }
  return out + '\n';
}

export interface DatabaseOptions {
  readonly root: string;
  /** In install order, as apk lists them. */
  readonly records: readonly InstalledRecord[];
  /** The world: what was asked for, as dependency atoms. */
  readonly world: readonly string[];
  readonly arch: string;
  readonly repositoryUrls: readonly string[];
  readonly keys: readonly TrustedKey[];
  /** mtime of the scripts.tar entries. */
  readonly sourceDateEpoch: number;
}

export async function writeDatabase(o: DatabaseOptions): Promise<void> {
  const db = join(o.root, 'lib/apk/db');
  const etc = join(o.root, 'etc/apk');
  await mkdirMode(db, 0o755);
  await mkdirMode(join(etc, 'keys'), 0o755);
  await writeFileMode(join(db, 'installed'), o.records.map(formatInstalledRecord).join(''), 0o644);
  const scripts = o.records.flatMap((r) =>
    [...r.scripts].map(([type, data]) => ({ name: `${r.pkg.name}-${r.pkg.version}.${r.pkg.checksum}.${type}`, data, mode: 0o755, mtime: o.sourceDateEpoch })),
  );
  await writeFileMode(join(db, 'scripts.tar'), writeTar(scripts), 0o644);
  const triggers = o.records.filter((r) => r.triggers.length).map((r) => `${r.pkg.checksum} ${r.triggers.join(' ')}\n`);
  await writeFileMode(join(db, 'triggers'), triggers.join(''), 0o644);
  await writeFileMode(join(etc, 'world'), [...new Set(o.world)].sort().join('\n') + '\n', 0o644);
  await writeFileMode(join(etc, 'arch'), `${o.arch}\n`, 0o644);
  await writeFileMode(join(etc, 'repositories'), o.repositoryUrls.map((u) => `${u}\n`).join(''), 0o644);
  for (const k of o.keys) await writeFileMode(join(etc, 'keys', k.name), k.pem, 0o644);
}

export interface InstalledEntry {
  readonly pkg: IndexPackage;
  readonly replaces: readonly Dep[];
  /** `dir/file` paths listed with R:, in order. */
  readonly files: readonly string[];
  /** Directories listed with F:. */
  readonly dirs: readonly string[];
  /** Every field line of the record, as [field, value] (for checks that want apk's exact fields). */
  readonly fields: ReadonlyArray<[string, string]>;
}

/** Read lib/apk/db/installed back: osb's own reader, also used by listPackages. */
export function parseInstalled(text: string): InstalledEntry[] {
  return stanzas(text).map((fields) => {
    const dirs: string[] = [];
    const files: string[] = [];
    for (const [k, v] of fields) {
      if (k === 'F') dirs.push(v);
      else if (k === 'R') files.push(dirs.length && dirs[dirs.length - 1] ? `${dirs[dirs.length - 1]}/${v}` : v);
    }
    const r = fields.find(([k]) => k === 'r')?.[1];
    return { pkg: packageFromStanza(fields, 'lib/apk/db/installed'), replaces: parseDeps(r, 'lib/apk/db/installed r:'), files, dirs, fields };
  });
}

export async function readInstalled(root: string): Promise<InstalledEntry[]> {
  // The tree's links followed inside the tree: a parent's database linked to a host file is not read.
  const db = resolveInTree(root, '/lib/apk/db/installed');
  if (!db?.stats.isFile()) throw new OsbError(`no apk database in ${root}: /lib/apk/db/installed is missing or not a file of the tree`);
  return parseInstalled(await readFile(db.path, 'utf8'));
}
