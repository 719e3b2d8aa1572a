/**
 * Dependency atoms as they appear in APKINDEX `D:`/`p:`/`i:` lines, .PKGINFO and
 * /etc/apk/world: `[!]name[op version]`, space separated (apk-tools src/package.c,
 * apk_dep_parse and apk_blob_push_dep). A `name@tag` pins a repository tag; osb keeps the tag
 * in the text it writes back but resolves by name.
 */
import { OsbError } from '../../../lib/errors.js';
import { isValidVersion, versionSatisfies, type Constraint, type VersionOp } from './version.js';

export interface Dep {
  readonly name: string;
  /** `!name`: the package must not be installed (with `constraint`: not at those versions). */
  readonly conflict: boolean;
  readonly constraint?: Constraint;
  /** `@tag` as written, without the `@`. */
  readonly tag?: string;
}

/** The characters apk reads as a comparison (APK_CTYPE_DEPENDENCY_COMPARER). */
const COMPARER = /[<>=~]/;
const OPS: readonly VersionOp[] = ['<', '<=', '=', '>=', '>', '~', '><'];

/** One atom; `where` names the field for the error message. */
export function parseDep(atom: string, where: string): Dep {
  let s = atom;
  const conflict = s.startsWith('!');
  if (conflict) s = s.slice(1);
  const at = s.search(COMPARER);
  let name = at < 0 ? s : s.slice(0, at);
  let constraint: Constraint | undefined;
  if (at >= 0) {
    const opEnd = s.slice(at).search(/[^<>=~]/);
    const opText = opEnd < 0 ? s.slice(at) : s.slice(at, at + opEnd);
    // apk writes `~` for "equal, fuzzy" and reads `~=` the same way.
    const op = (opText === '~=' ? '~' : opText === '=>' ? '>=' : opText === '=<' ? '<=' : opText) as VersionOp;
    const version = opEnd < 0 ? '' : s.slice(at + opEnd);
    const checksum = op === '><';
    if (!OPS.includes(op) || !version || (!checksum && !isValidVersion(version))) {
      throw new OsbError(`malformed dependency '${atom}' in ${where}`, 'the repository index or package is broken; report it to its maintainer');
    }
    constraint = { op, version };
  }
  let tag: string | undefined;
  const t = name.indexOf('@');
  if (t > 0) [name, tag] = [name.slice(0, t), name.slice(t + 1)];
  if (!name) throw new OsbError(`malformed dependency '${atom}' in ${where}`, 'the repository index or package is broken; report it to its maintainer');
  return { name, conflict, ...(constraint ? { constraint } : {}), ...(tag ? { tag } : {}) };
}

/** A space-separated list of atoms (empty for an empty or missing field). */
export function parseDeps(text: string | undefined, where: string): Dep[] {
  return (text ?? '').split(/\s+/).filter(Boolean).map((a) => parseDep(a, where));
}

/** The atom as apk writes it back (apk_blob_push_dep). */
export function formatDep(d: Dep): string {
  return `${d.conflict ? '!' : ''}${d.name}${d.tag ? `@${d.tag}` : ''}${d.constraint ? d.constraint.op + d.constraint.version : ''}`;
}

export function formatDeps(deps: readonly Dep[]): string {
  return deps.map(formatDep).join(' ');
}

/**
 * Whether a package offering `name` at `version` (undefined: a provide without version, which
 * satisfies only unversioned dependencies) with identity `checksum` meets `d`'s constraint.
 */
export function depMatches(d: Dep, name: string, version: string | undefined, checksum?: string): boolean {
  if (d.name !== name) return false;
  if (!d.constraint) return true;
  if (d.constraint.op === '><') return checksum !== undefined && checksum === d.constraint.version;
  return version !== undefined && versionSatisfies(version, d.constraint);
}
