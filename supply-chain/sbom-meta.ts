/**
 * What a rootfs's package database says about each package beyond name/version/arch, for the
 * SBOM. Read from the files, no subprocess. Honest about what each database holds:
 * - dpkg: no package checksum is kept after install; licenses live in free-text copyright files.
 *   Only machine-readable ones (DEP-5, "Format: https://www.debian.org/doc/packaging-manuals/
 *   copyright-format/1.0/") are read, and their License: short names (GPL-2+, ...) are reported
 *   as names, not as SPDX identifiers, because they are not.
 * - apk: the installed database has the license (L:, SPDX expressions in Alpine) and the
 *   SHA-1 of each package's control data (C:Q1<base64>).
 * - rpm: the sqlite rpmdb is not read here yet: no license or checksum.
 */
import { existsSync, readFileSync, type Stats } from 'node:fs';
import { fileInTree } from '../lib/bootable.js';
import type { GuestPathNode } from '../lib/guest-path.js';

export interface PackageMeta {
  readonly sha1?: string;
  readonly licenseExpression?: string;
  readonly licenseNames?: readonly string[];
  readonly licenseSource?: string;
}

const DEP5 = /^Format:\s*https?:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/?/m;

/** License short names of a DEP-5 copyright file (first line of each License: field), or undefined. */
export function dep5Licenses(text: string): string[] | undefined {
  if (!DEP5.test(text)) return undefined;
  const names = new Set<string>();
  for (const m of text.matchAll(/^License:[ \t]*(.+)$/gm)) {
    const v = m[1]!.trim();
    if (v) names.add(v);
  }
  return names.size ? [...names].sort() : undefined;
}

function debMeta(rootfs: string, name: string, memo: Map<string, GuestPathNode<Stats> | undefined>): PackageMeta {
  const file = fileInTree(rootfs, `/usr/share/doc/${name}/copyright`, memo);
  if (!file) return {};
  const names = dep5Licenses(readFileSync(file, 'utf8'));
  return names ? { licenseNames: names, licenseSource: `/usr/share/doc/${name}/copyright` } : {};
}

/** /lib/apk/db/installed: stanzas of KEY:VALUE lines, blank-line separated. */
function apkDb(rootfs: string): Map<string, PackageMeta> {
  const out = new Map<string, PackageMeta>();
  const file = fileInTree(rootfs, '/lib/apk/db/installed');
  if (!file) return out;
  for (const stanza of readFileSync(file, 'utf8').split(/\n\n+/)) {
    const f = new Map<string, string>();
    for (const line of stanza.split('\n')) if (line[1] === ':' && !f.has(line[0]!)) f.set(line[0]!, line.slice(2));
    const name = f.get('P');
    if (!name) continue;
    const c = f.get('C');
    out.set(name, {
      ...(c?.startsWith('Q1') ? { sha1: Buffer.from(c.slice(2), 'base64').toString('hex') } : {}),
      ...(f.get('L') ? { licenseExpression: f.get('L')!, licenseSource: '/lib/apk/db/installed' } : {}),
    });
  }
  return out;
}

/** Metadata for each named package, by package type. */
export function packageMeta(rootfs: string, type: 'deb' | 'apk' | 'rpm' | 'generic', names: readonly string[]): Map<string, PackageMeta> {
  if (!existsSync(rootfs)) return new Map();
  // What cannot be read (a tree owned by another user namespace) is left out, not fatal.
  const safe = <T>(f: () => T, fallback: T): T => {
    try {
      return f();
    } catch {
      return fallback;
    }
  };
  if (type === 'apk') return safe(() => apkDb(rootfs), new Map());
  if (type === 'deb') {
    const memo = new Map<string, GuestPathNode<Stats> | undefined>();
    return new Map(names.map((n) => [n, safe(() => debMeta(rootfs, n.split(':')[0]!, memo), {})]));
  }
  return new Map();
}
