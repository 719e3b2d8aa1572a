/**
 * APKINDEX stanzas: `X:value` lines, one package per blank-line-separated block (apk-tools
 * src/package.c, apk_pkg_add_info). The same stanza head starts each package's record in
 * lib/apk/db/installed, written back in apk's field order (apk_pkg_write_index_header).
 */
import { OsbError } from '../../../lib/errors.js';
import { formatDeps, parseDeps, type Dep } from './deps.js';

/** Where a package can be downloaded from: a repository URL (`<mirror>/<branch>/<repo>`). */
export interface Repository {
  /** main, community, ... */
  readonly name: string;
  readonly url: string;
}

export interface IndexPackage {
  /** `C:` — `Q1` + base64 SHA-1 of the package's control stream: its identity. */
  readonly checksum: string;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  /** `S:` — size of the .apk file. */
  readonly size: number;
  /** `I:` — installed size. */
  readonly installedSize: number;
  readonly description: string;
  readonly url: string;
  readonly license: string;
  readonly origin?: string;
  readonly maintainer?: string;
  readonly buildTime?: number;
  readonly commit?: string;
  /** `k:` — preference among providers of the same name. */
  readonly providerPriority: number;
  readonly depends: readonly Dep[];
  readonly provides: readonly Dep[];
  readonly installIf: readonly Dep[];
  /** The repository this record came from (undefined for a parsed installed database). */
  readonly repo?: Repository;
}

/** Blocks of `X:value` lines as [field, value] pairs, blank lines ending a block. */
export function stanzas(text: string): Array<Array<[string, string]>> {
  const out: Array<Array<[string, string]>> = [];
  let cur: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    if (line.length < 2) {
      if (cur.length) out.push(cur);
      cur = [];
      continue;
    }
    if (line[1] !== ':') continue; // apk ignores lines that are not fields
    cur.push([line[0]!, line.slice(2)]);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** One stanza's package fields; fields apk keeps only in the installed database are left to the caller. */
export function packageFromStanza(fields: ReadonlyArray<[string, string]>, where: string, repo?: Repository): IndexPackage {
  const f = new Map<string, string>();
  for (const [k, v] of fields) if (!f.has(k)) f.set(k, v);
  const name = f.get('P');
  const version = f.get('V');
  const checksum = f.get('C');
  if (!name || !version) throw new OsbError(`${where}: a package entry has no ${name ? 'V: (version)' : 'P: (name)'}`, 'the index is broken');
  if (!checksum || !/^Q1[A-Za-z0-9+/]{27}=$/.test(checksum)) {
    throw new OsbError(`${where}: ${name}-${version} has ${checksum ? `an unsupported checksum '${checksum}'` : 'no C: checksum'}`, 'osb verifies packages by their Q1 (SHA-1) identity; the index is broken or too old');
  }
  const int = (k: string) => (f.has(k) ? Number(f.get(k)) : undefined);
  const at = `${where} (${name}-${version})`;
  return {
    checksum,
    name,
    version,
    arch: f.get('A') ?? '',
    size: int('S') ?? 0,
    installedSize: int('I') ?? 0,
    description: f.get('T') ?? '',
    url: f.get('U') ?? '',
    license: f.get('L') ?? '',
    ...(f.has('o') ? { origin: f.get('o')! } : {}),
    ...(f.has('m') ? { maintainer: f.get('m')! } : {}),
    ...(f.has('t') ? { buildTime: int('t')! } : {}),
    ...(f.has('c') ? { commit: f.get('c')! } : {}),
    providerPriority: int('k') ?? 0,
    depends: parseDeps(f.get('D'), `${at} D:`),
    provides: parseDeps(f.get('p'), `${at} p:`),
    installIf: parseDeps(f.get('i'), `${at} i:`),
    ...(repo ? { repo } : {}),
  };
}

/** apk v3 files (adb) start with "ADB" and a compression byte; osb reads only v2 indexes. */
export function isAdbFormat(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.subarray(0, 3).toString('latin1') === 'ADB';
}

/** Every package of an APKINDEX text. */
export function parseApkIndex(text: string, where: string, repo?: Repository): IndexPackage[] {
  return stanzas(text).map((s) => packageFromStanza(s, where, repo));
}

/**
 * The head of a stanza as apk writes it: C P V A S I T U L, then o m t c k when set, then
 * D p i when not empty (apk_pkg_write_index_header). No trailing blank line.
 */
export function formatStanzaHead(p: IndexPackage): string {
  const lines = [`C:${p.checksum}`, `P:${p.name}`, `V:${p.version}`];
  if (p.arch) lines.push(`A:${p.arch}`);
  lines.push(`S:${p.size}`, `I:${p.installedSize}`, `T:${p.description}`, `U:${p.url}`, `L:${p.license}`);
  if (p.origin) lines.push(`o:${p.origin}`);
  if (p.maintainer) lines.push(`m:${p.maintainer}`);
  if (p.buildTime) lines.push(`t:${p.buildTime}`);
  if (p.commit) lines.push(`c:${p.commit}`);
  if (p.providerPriority) lines.push(`k:${p.providerPriority}`);
  if (p.depends.length) lines.push(`D:${formatDeps(p.depends)}`);
  if (p.provides.length) lines.push(`p:${formatDeps(p.provides)}`);
  if (p.installIf.length) lines.push(`i:${formatDeps(p.installIf)}`);
  return lines.join('\n') + '\n';
}
