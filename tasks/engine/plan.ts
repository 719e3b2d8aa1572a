/**
 * Make semantics: which targets to run, in what order, and why. The plan is computed up front
 * and is the same for a build, --dry-run and `osb explain`.
 */
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { OsbError, UsageError } from '../../lib/errors.js';
import { hashPath, hashValue } from '../../lib/hash.js';
import { treeFingerprint } from '../../lib/tree-fingerprint.js';
import type { Settings } from '../settings/table.js';
import { describeChange, diffInputs, readState, type SettingValue } from './state.js';
import type { Target } from './target.js';

export interface PlanStep {
  readonly target: Target;
  readonly action: 'build' | 'skip';
  /** Why it builds ("input changed: setting extraPkgs"), or why it is skipped. */
  readonly reasons: readonly string[];
  /** Every input's hash, stored after a successful build. */
  readonly inputs: Readonly<Record<string, string>>;
  /** The settings' values and sources, stored beside the hashes for `osb explain`. */
  readonly values: Readonly<Record<string, SettingValue>>;
  readonly deps: readonly string[];
}

export interface PlanOptions {
  readonly force: boolean;
  /** Build only the requested targets; their dependencies must already exist. */
  readonly noDeps: boolean;
}

/** Requested targets plus their dependencies, dependencies first (stable, depth-first order). */
export function closure(table: ReadonlyMap<string, Target>, requested: readonly string[], s: Settings, noDeps: boolean): Target[] {
  const order: Target[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    const t = table.get(name);
    if (!t) throw new UsageError(`unknown target '${name}'`, `targets: ${[...table.keys()].join(', ')}`);
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new OsbError(`dependency cycle: ${[...chain, name].join(' -> ')}`);
    state.set(name, 'visiting');
    if (!noDeps) for (const d of t.deps(s)) visit(d, [...chain, name]);
    state.set(name, 'done');
    order.push(t);
  };
  for (const r of requested) visit(r, []);
  return order;
}

export async function computePlan(
  table: ReadonlyMap<string, Target>,
  requested: readonly string[],
  s: Settings,
  ctx: BuildContext,
  opts: PlanOptions,
): Promise<PlanStep[]> {
  const targets = closure(table, requested, s, opts.noDeps);
  const depHash = new Map<string, string>();
  const steps: PlanStep[] = [];
  const seen = new Map<string, string>();
  /** Targets built in this run that read a tree (or depend on one that does): their bytes may change under the same inputs. */
  const fromChangedTree = new Set<string>();
  for (const t of targets) {
    await t.validate?.(s);
    const inputs: Record<string, string> = {};
    const values: Record<string, SettingValue> = {};
    for (const key of t.settings) {
      inputs[`setting ${key}`] = hashValue(s[key] ?? null);
      values[key] = { value: s[key] ?? null, source: s.sources[key] ?? 'default' };
    }
    for (const f of t.files?.(s) ?? []) {
      inputs[`file ${f}`] = existsSync(f) ? await hashPath(f) : 'missing';
    }
    Object.assign(inputs, await t.extraInputs?.(s, ctx));
    const deps = t.deps(s);
    for (const d of deps) {
      let h = depHash.get(d);
      if (h === undefined) {
        // --no-deps: the dependency is not in this plan, so it must already exist.
        const dt = table.get(d)!;
        // Only the primary output must exist: a rootfs osb did not build has no manifest.
        const missing = dt.outputs(s).slice(0, 1).filter((p) => !existsSync(p));
        if (missing.length) {
          throw new OsbError(`${t.name} needs ${d}, which is missing (${missing.join(', ')})`, `run \`osb ${d}\` first, or drop --no-deps`);
        }
        // Relative to the workdir: the same tree in a workdir elsewhere gives the same hash (and
        // so the same image identifiers, which derive from it).
        h = (await readState(s.workdir, d))?.inputsHash ?? `external ${dt.outputs(s).map((p) => relative(s.workdir, p)).join(' ')}`;
      }
      inputs[`target ${d}`] = h;
    }
    depHash.set(t.name, hashValue(inputs));

    const reasons: string[] = [];
    const stored = await readState(s.workdir, t.name);
    if (t.alwaysRun) reasons.push('always runs');
    if (opts.force && requested.includes(t.name)) reasons.push('--force');
    for (const o of t.outputs(s)) if (!existsSync(o)) reasons.push(`output missing: ${o}`);
    if (!stored) reasons.push('no record of an earlier build');
    else {
      for (const n of diffInputs(stored.inputs, inputs)) {
        const key = n.replace(/^setting /, '');
        reasons.push(`input changed: ${describeChange(n, stored.values?.[key], values[key])}`);
      }
    }
    // Otherwise up to date: were the trees it reads changed since it was built (by hand)? Its
    // inputs cannot say: the tree is the rootfs's output, not an input (lib/tree-fingerprint.ts).
    // One walk per tree for the whole plan.
    const building = (d: string) => steps.find((x) => x.target.name === d && x.action === 'build');
    const trees = t.trees?.(s) ?? [];
    if (!reasons.length && stored) {
      const rewritten = trees.length ? deps.find((d) => building(d)) : undefined;
      // A dependency built again from a tree has new bytes under the same inputs.
      const changedDep = deps.find((d) => fromChangedTree.has(d));
      if (changedDep) reasons.push(`${changedDep}, which it is made of, is built in this run`);
      else if (rewritten) reasons.push(`${rewritten}, whose tree it reads, is built in this run`);
      else {
        for (const tree of trees) {
          let fp = seen.get(tree);
          if (!fp) seen.set(tree, (fp = treeFingerprint(tree)));
          const was = stored.trees?.[tree];
          const where = relative(s.workdir, tree) || tree;
          if (was === undefined) reasons.push(`no record of the tree it was built from (${where})`);
          else if (was !== fp) reasons.push(`${where} changed since it was built (an entry written, added, removed, or its mode or owner set)`);
        }
      }
    }
    // Built again, it may differ from what its dependants were built from, under the same inputs.
    if (reasons.length && (trees.length || deps.some((d) => fromChangedTree.has(d)))) fromChangedTree.add(t.name);
    steps.push({ target: t, action: reasons.length ? 'build' : 'skip', reasons: reasons.length ? reasons : ['up to date'], inputs, values, deps: opts.noDeps ? [] : deps });
  }
  return steps;
}
