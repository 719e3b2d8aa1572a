/**
 * Who provides a name: the package of that name, and every package listing it in `p:` — versioned
 * (`so:libc.musl-x86_64.so.1=1`, `cmd:sh=1.36.1-r2`) or not (a virtual such as `/bin/sh`).
 * The choice among providers follows apk's order of preference where it matters for a fresh
 * install (apk-tools src/solver.c, compare_providers): the package that carries the name itself,
 * then the highest `k:` provider priority, then the highest version, then the lower repository.
 */
import { OsbError } from '../../../lib/errors.js';
import { byCodePoint } from '../../../lib/order.js';
import type { IndexPackage } from './apkindex.js';
import { depMatches, formatDep, type Dep } from './deps.js';
import { compareVersions } from './version.js';

export interface Provider {
  readonly pkg: IndexPackage;
  /** The version it provides the name at; undefined for a provide without version. */
  readonly version: string | undefined;
}

/** The provided version of a `p:` atom: only `name=version` carries one. */
const providedVersion = (p: Dep) => (p.constraint?.op === '=' ? p.constraint.version : undefined);

/** Whether `pkg` satisfies `d` through its own name or one of its provides (apk_dep_analyze). */
export function pkgSatisfies(pkg: IndexPackage, d: Dep): boolean {
  const plain = d.conflict ? { ...d, conflict: false } : d;
  if (pkg.name === d.name) return depMatches(plain, pkg.name, pkg.version, pkg.checksum);
  return pkg.provides.some((p) => p.name === d.name && depMatches(plain, d.name, providedVersion(p), pkg.checksum));
}

/** Every package known, indexed by name and by provided name. First repository wins a duplicate. */
export class Universe {
  readonly byName = new Map<string, IndexPackage[]>();
  private readonly providersOf = new Map<string, Provider[]>();

  constructor(packages: readonly IndexPackage[]) {
    for (const pkg of packages) {
      const same = this.byName.get(pkg.name) ?? [];
      if (same.some((p) => p.version === pkg.version)) continue;
      same.push(pkg);
      this.byName.set(pkg.name, same);
      this.add(pkg.name, { pkg, version: pkg.version });
      for (const p of pkg.provides) this.add(p.name, { pkg, version: providedVersion(p) });
    }
    // Newest first; the sort is stable, so equal versions keep repository order.
    for (const list of this.byName.values()) list.sort((a, b) => compareVersions(b.version, a.version));
  }

  private add(name: string, p: Provider): void {
    const list = this.providersOf.get(name) ?? [];
    list.push(p);
    this.providersOf.set(name, list);
  }

  providers(name: string): readonly Provider[] {
    return this.providersOf.get(name) ?? [];
  }
}

/**
 * The provider to install for `d` among `candidates` (all satisfy it). A virtual name whose
 * providers have no version and no priority is ambiguous: apk refuses to guess, and so does osb.
 */
export function pickProvider(d: Dep, candidates: readonly Provider[], neededBy: string): IndexPackage {
  const own = candidates.filter((c) => c.pkg.name === d.name);
  if (own.length) return own.reduce((a, b) => (compareVersions(b.pkg.version, a.pkg.version) > 0 ? b : a)).pkg;
  const names = [...new Set(candidates.map((c) => c.pkg.name))].sort();
  if (names.length > 1 && candidates.every((c) => c.version === undefined && c.pkg.providerPriority === 0)) {
    throw new OsbError(
      `${formatDep(d)} (needed by ${neededBy}) is a virtual package provided by ${names.join(', ')}, and none is preferred`,
      `name the one you want in EXTRA_PKGS (--extra-pkgs), e.g. ${names[0]}`,
    );
  }
  const sorted = [...candidates].sort(
    (a, b) =>
      b.pkg.providerPriority - a.pkg.providerPriority ||
      (a.version === undefined ? (b.version === undefined ? 0 : 1) : b.version === undefined ? -1 : compareVersions(b.version, a.version)) ||
      compareVersions(b.pkg.version, a.pkg.version) ||
      byCodePoint(a.pkg.name, b.pkg.name),
  );
  return sorted[0]!.pkg;
}
