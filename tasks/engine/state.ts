/**
 * Build state: for each target, the hash of every input at its last successful build, stored in
 * WORKDIR/.osb/state/<target>.json. Written only after the target's outputs are complete.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../../lib/atomic.js';
import { hashValue } from '../../lib/hash.js';
import { showValue } from '../settings/table.js';

export interface TargetState {
  readonly target: string;
  /** Input name → hash of its value. */
  readonly inputs: Readonly<Record<string, string>>;
  /** Hash over all inputs: what dependants see of this target. */
  readonly inputsHash: string;
  /** The settings' values and where each came from, so `osb explain` can say what changed. */
  readonly values?: Readonly<Record<string, SettingValue>>;
  /** Each directory the target read whole -> its fingerprint when the build started (not an input: see lib/tree-fingerprint.ts). */
  readonly trees?: Readonly<Record<string, string>>;
  readonly builtAt: string;
}

export interface SettingValue {
  readonly value: unknown;
  /** "flag --distro", "workdir", "osb.yaml:3", ... */
  readonly source: string;
}

export function stateDir(workdir: string): string {
  return join(workdir, '.osb', 'state');
}

export async function readState(workdir: string, target: string): Promise<TargetState | undefined> {
  const p = join(stateDir(workdir), `${target}.json`);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(await readFile(p, 'utf8')) as TargetState;
  } catch {
    return undefined; // a corrupt state file means "rebuild", never a crash
  }
}

export async function writeState(workdir: string, target: string, inputs: Record<string, string>, values?: Readonly<Record<string, SettingValue>>, trees?: Readonly<Record<string, string>>): Promise<TargetState> {
  const state: TargetState = { target, inputs, inputsHash: hashValue(inputs), builtAt: new Date().toISOString(), ...(values ? { values } : {}), ...(trees ? { trees } : {}) };
  await mkdir(stateDir(workdir), { recursive: true });
  await writeAtomic(join(stateDir(workdir), `${target}.json`), (tmp) => writeFile(tmp, JSON.stringify(state, null, 2) + '\n'));
  return state;
}

/** Why the stored state differs from the current inputs: names of changed, added, removed inputs. */
export function diffInputs(stored: Readonly<Record<string, string>>, current: Readonly<Record<string, string>>): string[] {
  const names = new Set([...Object.keys(stored), ...Object.keys(current)]);
  return [...names].filter((n) => stored[n] !== current[n]).sort();
}

const brief = (v: unknown): string => {
  const t = v === null || v === undefined ? '(unset)' : Array.isArray(v) ? `[${showValue(v)}]` : showValue(v);
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
};

/** "setting distro: debian (workdir) -> alpine (flag --distro)", or just the input's name. */
export function describeChange(name: string, before?: SettingValue, after?: SettingValue): string {
  if (!name.startsWith('setting ') || !before || !after) return name;
  return `${name}: ${brief(before.value)} (${before.source}) -> ${brief(after.value)} (${after.source})`;
}
