/**
 * The package set for a world: dependencies with version constraints, `so:`/`cmd:`/virtual
 * provides (providers.ts), `!` conflicts and `i:` install_if, deterministically. A greedy pass
 * takes the preferred provider of each dependency in breadth-first order; when a later
 * constraint rules out a version already chosen, the constraint is pinned on that name and the
 * pass starts again, so the newest version that satisfies every constraint wins. Errors name the
 * package that cannot be had and the chain from the world that needed it.
 */
import { OsbError } from '../../../lib/errors.js';
import type { IndexPackage } from './apkindex.js';
import { formatDep, formatDeps, type Dep } from './deps.js';
import { pickProvider, pkgSatisfies, Universe, type Provider } from './providers.js';

export interface Resolution {
  /** Packages in install order: each after the packages it depends on (cycles broken by name). */
  readonly packages: readonly IndexPackage[];
  /** How each package name was reached: `['world', 'alpine-baselayout', ...]`. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
}

interface Need {
  readonly dep: Dep;
  /** Names from the world down to the package that has this dependency. */
  readonly chain: readonly string[];
}

/** A restart request: the package called `name` must also satisfy `dep`. */
class Clash {
  constructor(readonly name: string, readonly dep: Dep) {}
}

const chainText = (chain: readonly string[]) => chain.join(' → ');

function unsatisfiable(u: Universe, need: Need, pins: ReadonlyMap<string, Dep[]>): OsbError {
  const { dep, chain } = need;
  const all = u.providers(dep.name);
  let why: string;
  if (all.length === 0) why = `no package named or providing ${dep.name}`;
  else if (!all.some((p) => pkgSatisfies(p.pkg, dep))) why = `available: ${[...new Set(all.map((p) => `${p.pkg.name}-${p.pkg.version}`))].join(', ')}`;
  else {
    const pinned = [...new Set(all.map((p) => p.pkg.name))].flatMap((n) => (pins.get(n) ?? []).map(formatDep));
    why = `it conflicts with other requirements (${pinned.join(', ')})`;
  }
  return new OsbError(`unsatisfiable dependency ${formatDep(dep)} (needed by ${chainText(chain)}): ${why}`, 'check EXTRA_PKGS and --os-version; the packages may not exist in this release');
}

/** One greedy pass under `pins`; throws Clash to ask for another pass. */
function pass(u: Universe, world: readonly Dep[], pins: ReadonlyMap<string, Dep[]>) {
  const selected = new Map<string, { pkg: IndexPackage; chain: readonly string[] }>();
  const conflicts: Need[] = [];
  const allowed = (pkg: IndexPackage) => (pins.get(pkg.name) ?? []).every((d) => pkgSatisfies(pkg, d));
  const satisfiedNow = (d: Dep) => [...selected.values()].some((s) => pkgSatisfies(s.pkg, d));
  const queue: Need[] = world.map((dep) => ({ dep, chain: ['world'] }));

  const select = (pkg: IndexPackage, chain: readonly string[]) => {
    selected.set(pkg.name, { pkg, chain });
    for (const dep of pkg.depends) queue.push({ dep, chain: [...chain, pkg.name] });
  };
  const drain = () => {
    for (let need = queue.shift(); need; need = queue.shift()) {
      const { dep, chain } = need;
      if (dep.conflict) {
        conflicts.push(need);
        continue;
      }
      if (satisfiedNow(dep)) continue;
      const fitting = u.providers(dep.name).filter((p) => pkgSatisfies(p.pkg, dep) && allowed(p.pkg));
      const free = fitting.filter((p: Provider) => !selected.has(p.pkg.name));
      if (free.length === 0) {
        // Another version of a fitting package was chosen earlier: pin this dependency on its
        // name and start again, unless that was tried already (then the two cannot be met).
        const taken = fitting.find((p) => selected.has(p.pkg.name));
        if (taken && !pins.get(taken.pkg.name)?.some((d) => formatDep(d) === formatDep(dep))) throw new Clash(taken.pkg.name, dep);
        throw unsatisfiable(u, need, pins);
      }
      select(pickProvider(dep, free, chainText(chain)), chain);
    }
  };

  drain();
  // install_if: a package whose i: conditions all hold for what is selected comes along. Each
  // addition may enable others, so repeat until nothing changes (names sorted: deterministic).
  for (let added = true; added; ) {
    added = false;
    for (const name of [...u.byName.keys()].sort()) {
      if (selected.has(name)) continue;
      const pkg = u.byName.get(name)!.find((p) => p.installIf.length > 0 && allowed(p));
      if (!pkg || !pkg.installIf.every((d) => (d.conflict ? !satisfiedNow(d) : satisfiedNow(d)))) continue;
      select(pkg, ['world', `install_if(${formatDeps(pkg.installIf)})`]);
      drain();
      added = true;
    }
  }
  return { selected, conflicts };
}

function checkConflicts(selected: ReturnType<typeof pass>['selected'], conflicts: readonly Need[]): void {
  for (const { dep, chain } of conflicts) {
    const owner = chain[chain.length - 1]!;
    for (const [name, s] of selected) {
      if (name === owner || !pkgSatisfies(s.pkg, dep)) continue;
      const who = owner === 'world' ? 'the world' : `${owner} (needed by ${chainText(chain.slice(0, -1))})`;
      throw new OsbError(
        `conflict: ${who} forbids ${formatDep(dep).slice(1)}, but ${name}-${s.pkg.version} is needed by ${chainText(s.chain)}`,
        'remove one of the two from EXTRA_PKGS, or choose packages that can be installed together',
      );
    }
  }
  // A name provided with a version can be installed once (apk: one provider per name).
  const owners = new Map<string, string>();
  for (const [name, s] of selected) {
    for (const p of [{ name, versioned: true }, ...s.pkg.provides.map((d) => ({ name: d.name, versioned: d.constraint?.op === '=' }))]) {
      if (!p.versioned) continue;
      const other = owners.get(p.name);
      if (other && other !== name) {
        throw new OsbError(`conflict: ${other} and ${name} both provide ${p.name}`, `only one of them can be installed; drop one from EXTRA_PKGS`);
      }
      owners.set(p.name, name);
    }
  }
}

/** Dependencies first, then the package; names in sorted order so the result is stable. */
function installOrder(selected: ReturnType<typeof pass>['selected']): IndexPackage[] {
  const order: IndexPackage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string) => {
    if (state.has(name)) return;
    state.set(name, 'visiting');
    const pkg = selected.get(name)!.pkg;
    for (const d of pkg.depends) {
      if (d.conflict) continue;
      const dep = [...selected.keys()].sort().find((n) => pkgSatisfies(selected.get(n)!.pkg, d));
      if (dep) visit(dep);
    }
    state.set(name, 'done');
    order.push(pkg);
  };
  for (const name of [...selected.keys()].sort()) visit(name);
  return order;
}

/** Resolve `world` against the available packages (in repository order). */
export function resolve(available: readonly IndexPackage[], world: readonly Dep[]): Resolution {
  const u = new Universe(available);
  const pins = new Map<string, Dep[]>();
  for (let round = 0; round < 1000; round++) {
    try {
      const { selected, conflicts } = pass(u, world, pins);
      checkConflicts(selected, conflicts);
      return { packages: installOrder(selected), chains: new Map([...selected].map(([n, s]) => [n, s.chain])) };
    } catch (e) {
      if (!(e instanceof Clash)) throw e;
      const list = pins.get(e.name) ?? [];
      if (list.some((d) => formatDep(d) === formatDep(e.dep))) throw new OsbError(`cannot resolve ${e.name}: ${formatDep(e.dep)} keeps being violated`, 'report this as an osb bug with the EXTRA_PKGS used');
      pins.set(e.name, [...list, e.dep]);
    }
  }
  throw new OsbError('dependency resolution did not settle after 1000 rounds', 'report this as an osb bug with the EXTRA_PKGS used');
}
