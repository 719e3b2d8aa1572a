/**
 * Where each setting's value comes from, in order: flag > OSB_* env > Kata's env name > osb.yaml
 * > the workdir's record of earlier commands > default. Every value is checked (type, choices,
 * range) with a message naming where it came from, and paths are made absolute against the place
 * they were written (the cwd, or osb.yaml's directory).
 */
import { resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { checkOutputNames, checkValue } from '../settings/grammar.js';
import type { ProjectFile } from './project-file.js';
import { SETTINGS, SettingValueError, defaultJobs, flagOf, fromEnv, parseBool, splitCommas, splitList, yamlKey, LIST_DEFAULTS, LIST_KEYS, type Setting, type Settings } from '../settings/table.js';
import type { WorkdirRecord } from './record.js';

export type SourceKind = 'flag' | 'env' | 'file' | 'workdir' | 'default';

export interface Source {
  readonly kind: SourceKind;
  /** "flag --distro", "env OS_VERSION", "osb.yaml:3", "workdir", "default". */
  readonly text: string;
}

export interface Resolution {
  readonly settings: Settings;
  readonly sources: Readonly<Record<string, Source>>;
  /** Input settings this command was given explicitly (flag, env, file): what the record keeps. */
  readonly given: Readonly<Record<string, unknown>>;
}

export interface Layers {
  /** Flags as parsed (undefined when not given). */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly environ: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly project?: ProjectFile;
  /** The record of the workdir, read once the workdir is known. */
  readonly record?: (workdir: string) => WorkdirRecord;
}

const fail = (e: unknown): never => {
  if (e instanceof SettingValueError) throw new UsageError(e.message);
  throw e;
};

/** A raw value (flag text, YAML scalar) as the setting's type, or an error naming `where`. */
function coerce(s: Setting, raw: unknown, where: string): unknown {
  switch (s.type) {
    case 'boolean':
      return typeof raw === 'boolean' ? raw : parseBool(String(raw), where);
    case 'number': {
      const n = typeof raw === 'number' ? raw : Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new SettingValueError(`${where} expects a number, got '${raw}'`);
      return n;
    }
    case 'array':
      return ([] as unknown[]).concat(raw).flatMap((v) => (s.wholeItems ? (v === '' ? [] : [String(v)]) : s.commaList ? splitCommas(String(v)) : splitList(String(v))));
    default:
      return String(raw);
  }
}

function check(s: Setting, value: unknown, where: string): void {
  if (value !== undefined && s.choices && !s.choices.includes(String(value))) throw new UsageError(`${where} must be one of ${s.choices.join(', ')}; got '${value}'`);
  if (typeof value === 'number' && s.min !== undefined && value < s.min) throw new UsageError(`${where} must be at least ${s.min}; got ${value}`);
  if (typeof value === 'number' && !Number.isInteger(value)) throw new UsageError(`${where} must be a whole number; got ${value}`);
}

/**
 * The value checked against the setting's grammar (tasks/settings/grammar.ts), each item of a list, and
 * normalized where the grammar says so (--arch arm64 is aarch64). A file the value names (the
 * --registry-ca PEM) is read only when this command was given it: a remembered one was checked then.
 */
function checkGrammar(s: Setting, value: unknown, where: string, kind: SourceKind): unknown {
  const g = s.grammar;
  if (!g || value === undefined || value === null) return value;
  if (g === 'pemFile' && !['flag', 'env', 'file'].includes(kind)) return value;
  return Array.isArray(value) ? value.map((v) => checkValue(g, String(v), where)) : checkValue(g, String(value), where);
}

const absolute = (s: Setting, v: unknown, base: string): unknown => {
  if (!s.path || v === undefined) return v;
  return Array.isArray(v) ? v.map((x) => resolve(base, String(x))) : resolve(base, String(v));
};

function resolveOne(s: Setting, l: Layers, record: WorkdirRecord): { value: unknown; source: Source } {
  try {
    let flag = l.flags[s.key];
    // A flag given twice: the last one wins, as with most tools (scripts append overrides).
    if (Array.isArray(flag) && s.type !== 'array') flag = flag.at(-1);
    if (flag !== undefined) {
      const source: Source = { kind: 'flag', text: `flag ${flagOf(s)}` };
      // `--agent-bin=` unsets a value (the workdir forgets it): back to the default.
      if (flag === '' && s.type === 'string') return { value: s.default, source };
      return { value: absolute(s, coerce(s, flag, flagOf(s)), l.cwd), source };
    }
    const e = fromEnv(s, l.environ);
    if (e) return { value: absolute(s, e.value, l.cwd), source: { kind: 'env', text: `env ${e.name}` } };
    const p = l.project?.values.get(s.key);
    if (p) {
      const text = `${l.project!.display}:${p.line}`;
      return { value: absolute(s, coerce(s, p.raw, `${text}: ${yamlKey(s)}`), l.project!.dir), source: { kind: 'file', text } };
    }
    if (s.key in record) return { value: record[s.key], source: { kind: 'workdir', text: 'workdir' } };
  } catch (err) {
    fail(err);
  }
  return { value: Array.isArray(s.default) ? [...s.default] : s.default, source: { kind: 'default', text: 'default' } };
}

export function resolveLayers(l: Layers): Resolution {
  const out: Record<string, unknown> = {};
  const sources: Record<string, Source> = {};
  const given: Record<string, unknown> = {};
  const wheres: Record<string, string> = {};
  const workdirSetting = SETTINGS.find((s) => s.key === 'workdir')!;
  const wd = resolveOne(workdirSetting, l, {});
  const workdir = resolve(l.cwd, String(wd.value));
  const record = l.record?.(workdir) ?? {};
  for (const s of SETTINGS) {
    const r = s === workdirSetting ? wd : resolveOne(s, l, record);
    const where = { flag: flagOf(s), env: r.source.text.replace(/^env /, ''), file: `${r.source.text}: ${yamlKey(s)}`, workdir: `${flagOf(s)} (recorded in the workdir)`, default: flagOf(s) }[r.source.kind];
    check(s, r.value, where);
    const value = checkGrammar(s, r.value, where, r.source.kind);
    out[s.key] = value;
    sources[s.key] = r.source;
    if (!s.perRun && s !== workdirSetting && ['flag', 'env', 'file'].includes(r.source.kind)) given[s.key] = value;
    wheres[s.key] = where;
  }
  // The lists a build needs beyond the table (osb.yaml or an image-build config: repos, cmds, ...).
  for (const key of LIST_KEYS) {
    const given_ = l.project?.lists.get(key);
    if (given_) {
      out[key] = given_.value;
      sources[key] = { kind: 'file', text: `${l.project!.display}:${given_.line}` };
      given[key] = given_.value;
    } else if (key in record) {
      out[key] = record[key];
      sources[key] = { kind: 'workdir', text: 'workdir' };
    } else {
      out[key] = LIST_DEFAULTS[key];
      sources[key] = { kind: 'default', text: 'default' };
    }
  }
  out.jobs ??= defaultJobs();
  out.passthrough = [];
  out.workdir = workdir;
  out.sources = Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, v.text]));
  // Every row was coerced and checked against the table above: here the record becomes Settings.
  const settings = out as unknown as Settings;
  checkOutputNames(settings, wheres, (key) => ['flag', 'env', 'file'].includes(sources[key]?.kind ?? 'default'));
  return { settings, sources, given };
}
