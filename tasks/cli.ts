/**
 * The command line, built by a factory so tests can drive it with an argv array. Parsing only:
 * no builder is loaded here, so `osb --help` stays fast.
 */
import yargs from 'yargs';
import { resolve } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { COMMANDS } from './help.js';
import { SETTINGS, SettingValueError, defaultJobs, flagOf, fromEnv, kebab, parseBool, splitList, type Settings } from './settings.js';

export interface ParsedCommand {
  readonly command: string;
  readonly positional: readonly string[];
  /** Arguments after `--` (boot: extra kernel arguments). */
  readonly passthrough: readonly string[];
  readonly settings: Settings;
  /** Command-specific flags (check-deps --json/--install, install-kernel --prefix). */
  readonly flags: Readonly<Record<string, unknown>>;
}

const EXTRA_FLAGS = ['json', 'install', 'prefix', 'list-distros'];

/** The yargs parser. Settings are declared without defaults so we can tell flags from defaults. */
export function buildParser(argv: readonly string[]) {
  let y = yargs([...argv])
    .scriptName('osb')
    .usage('Usage: $0 <command> [options]\n\nRun `osb help` for every option with its environment variable and default.')
    .parserConfiguration({ 'populate--': true, 'strip-aliased': true, 'strip-dashed': true })
    .help(false)
    .version(false)
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg ?? 'invalid command line');
    });
  for (const c of COMMANDS) y = y.command(c.name === 'explain' ? 'explain <target>' : c.name === 'check-deps' ? 'check-deps [targets..]' : c.name, c.describe);
  for (const s of SETTINGS) {
    y = y.option(kebab(s.key), {
      alias: s.alias,
      type: s.type === 'boolean' ? 'boolean' : 'string',
      describe: s.describe,
      group: 'Global options:',
      hidden: s.group !== 'global' || s.flag !== undefined,
    });
  }
  y = y
    .option('help', { alias: 'h', type: 'boolean', describe: 'Show this help', group: 'Global options:' })
    .epilogue('      --no-deps          Build only the named target; fail if an input it needs is missing\n\nTarget options (--distro, --fs-type, --compression, ...): `osb help`.')
    .option('json', { type: 'boolean', describe: 'check-deps: machine-readable output', hidden: true })
    .option('install', { type: 'boolean', describe: 'check-deps: install missing tools (root)', hidden: true })
    .option('prefix', { type: 'string', describe: 'install-kernel: destination', hidden: true });
  return y;
}

/** Levenshtein distance, for "did you mean" on unknown options. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(word, c);
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function unknownArgumentError(argv: readonly string[]): UsageError | undefined {
  const known = new Set<string>(['help', 'h', ...EXTRA_FLAGS]);
  for (const s of SETTINGS) {
    known.add(kebab(s.key));
    if (s.alias) known.add(s.alias);
    if (s.type === 'boolean') known.add(`no-${kebab(s.key)}`);
  }
  for (const a of argv) {
    if (a === '--') break;
    const m = /^--?([^=]+)/.exec(a);
    if (!m || /^-\d/.test(a)) continue;
    const name = m[1]!;
    if (a.startsWith('--') ? known.has(name) : [...name].every((c) => known.has(c))) continue;
    const s = suggest(name, [...known].filter((k) => k.length > 1));
    return new UsageError(`unknown option ${a.split('=')[0]}`, s ? `did you mean --${s}? (osb help lists every option)` : 'osb help lists every option');
  }
  return undefined;
}

/** Parse argv into a command and its settings; env vars fill what flags did not say. */
export function parseCommandLine(argv: readonly string[], environ: NodeJS.ProcessEnv = process.env): ParsedCommand {
  const bad = unknownArgumentError(argv);
  if (bad) throw bad;
  let parsed: Record<string, unknown>;
  try {
    parsed = buildParser(argv).parseSync() as Record<string, unknown>;
  } catch (e) {
    if (e instanceof UsageError) {
      const m = /Unknown arguments?: (.*)/.exec(e.message);
      const words = m ? m[1]!.split(', ') : [];
      const cmd = words[0] && suggest(words[0], COMMANDS.map((c) => c.name));
      if (m) throw new UsageError(`unknown command '${words[0]}'`, cmd ? `did you mean \`osb ${cmd}\`? (osb --help lists commands)` : 'osb --help lists commands');
      throw e;
    }
    throw new UsageError((e as Error).message);
  }
  const rest = (parsed._ as (string | number)[]).map(String);
  const command = rest[0] ?? '';
  if (command && !COMMANDS.some((c) => c.name === command)) {
    const s = suggest(command, COMMANDS.map((c) => c.name));
    throw new UsageError(`unknown command '${command}'`, s ? `did you mean \`osb ${s}\`?` : 'osb --help lists commands');
  }
  const settings = resolveSettings(parsed, environ);
  const positional = command === 'explain' ? [String(parsed.target)] : command === 'check-deps' ? ((parsed.targets as string[]) ?? []) : rest.slice(1);
  if (positional.length && !['explain', 'check-deps'].includes(command)) {
    throw new UsageError(`unexpected argument '${positional[0]}' for osb ${command}`, 'extra kernel arguments go after `--`');
  }
  return {
    command,
    positional,
    passthrough: ((parsed['--'] as string[]) ?? []).map(String),
    settings,
    flags: { json: parsed.json, install: parsed.install, prefix: parsed.prefix },
  };
}

/** Apply flag > env > default to every setting, checking types, choices and ranges. */
export function resolveSettings(parsed: Record<string, unknown>, environ: NodeJS.ProcessEnv): Settings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    let value: unknown = parsed[s.key];
    // A flag given twice: the last one wins, as with most tools (scripts append overrides).
    if (Array.isArray(value) && s.type !== 'array') value = value.at(-1);
    let where = flagOf(s);
    try {
      if (value === undefined) {
        const e = fromEnv(s, environ);
        if (e) [value, where] = [e.value, e.name];
      } else if (s.type === 'array') {
        value = ([] as unknown[]).concat(value).flatMap((v) => splitList(String(v)));
      } else if (s.type === 'number') {
        const n = Number(value);
        if (value === '' || !Number.isFinite(n)) throw new SettingValueError(`${flagOf(s)} expects a number, got '${value}'`);
        value = n;
      } else if (s.type === 'boolean' && typeof value === 'string') {
        value = parseBool(value, flagOf(s));
      }
    } catch (e) {
      if (e instanceof SettingValueError) throw new UsageError(e.message);
      throw e;
    }
    if (value === undefined) value = Array.isArray(s.default) ? [...s.default] : s.default;
    if (value !== undefined && s.choices && !s.choices.includes(String(value))) {
      throw new UsageError(`${where} must be one of ${s.choices.join(', ')}; got '${value}'`);
    }
    if (typeof value === 'number' && s.min !== undefined && value < s.min) {
      throw new UsageError(`${where} must be at least ${s.min}; got ${value}`);
    }
    if (typeof value === 'number' && !Number.isInteger(value)) throw new UsageError(`${where} must be a whole number; got ${value}`);
    out[s.key] = value;
  }
  out.jobs ??= defaultJobs();
  out.workdir = resolve(String(out.workdir));
  return out as Settings;
}
