/**
 * The command line, built by a factory so tests can drive it with an argv array. Parsing only:
 * no builder is loaded here, so `osb --help` stays fast.
 */
import yargs from 'yargs';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { COMMANDS } from './help.js';
import { readRecord } from './record.js';
import { resolveLayers, type Source } from './resolve.js';
import { SETTINGS, kebab, parseBool, type Settings } from './settings.js';
import { suggest } from './suggest.js';

export interface ParsedCommand {
  readonly command: string;
  readonly positional: readonly string[];
  /** Arguments after `--` (boot: extra kernel arguments). */
  readonly passthrough: readonly string[];
  readonly settings: Settings;
  /** Where each setting's value came from (flag, env, osb.yaml:line, workdir, default). */
  readonly sources: Readonly<Record<string, Source>>;
  /** Input settings given explicitly: recorded in the workdir by commands that write it. */
  readonly given: Readonly<Record<string, unknown>>;
  /** The project file in use, as the user names it. */
  readonly project?: string;
  /** Command-specific flags (check-deps --json/--install, install-kernel --prefix, config --reset/--schema, clean --cache). */
  readonly flags: Readonly<Record<string, unknown>>;
}

const EXTRA_FLAGS = ['json', 'install', 'prefix', 'list-distros', 'reset', 'schema', 'cache'];

/**
 * The yargs parser. Settings are declared without defaults so we can tell flags from defaults.
 * The commands are declared for `osb --help` only: parseCommandLine checks the command itself,
 * and a declared command makes yargs render and cache the whole help text on every parse.
 */
export function buildParser(argv: readonly string[], withCommands = true) {
  let y = yargs([...argv])
    .scriptName('osb')
    .usage('Usage: $0 <command> [options]\n\nRun `osb help` for every option with its environment variable and default.')
    .parserConfiguration({ 'populate--': true, 'strip-aliased': true, 'strip-dashed': true })
    .help(false)
    .version(false)
    // yargs' ES module build breaks lines inside words: leave the wrapping to the terminal.
    .wrap(null)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg ?? 'invalid command line');
    });
  // For a run, unknownArgumentError refuses unknown options before yargs runs, and
  // parseCommandLine the command and its words: yargs' own strict mode would be a second check.
  if (withCommands) y = y.strict();
  if (withCommands) for (const c of COMMANDS) y = y.command(c.name === 'explain' ? 'explain <target>' : c.name === 'check-deps' ? 'check-deps [targets..]' : c.name === 'verify-repro' ? 'verify-repro [targets..]' : c.name, c.describe);
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
    .option('version', { type: 'boolean', describe: "Show osb's version (alone: osb --version)", group: 'Global options:' })
    .epilogue('      --no-deps          Build only the named target; fail if an input it needs is missing\n\nTarget options (--distro, --fs-type, --compression, ...): `osb help`.')
    .option('json', { type: 'boolean', describe: 'check-deps: machine-readable output', hidden: true })
    .option('install', { type: 'boolean', describe: 'check-deps: install missing tools (root)', hidden: true })
    .option('prefix', { type: 'string', describe: 'install-kernel: destination', hidden: true })
    .option('reset', { type: 'boolean', describe: "config: forget the workdir's recorded settings", hidden: true })
    .option('schema', { type: 'boolean', describe: 'config: print the JSON Schema of osb.yaml', hidden: true })
    .option('cache', { type: 'boolean', describe: 'clean: empty the cache too (base trees, downloads, kernel sources)', hidden: true });
  return y;
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

/**
 * `--agent-init=maybe`: yargs reads any value of a boolean flag as a boolean, so a wrong one
 * would silently mean "no". The environment form is checked by parseBool; the flag form is too.
 */
function badBooleanFlag(argv: readonly string[]): UsageError | undefined {
  const booleans = new Map<string, string>();
  for (const s of SETTINGS) if (s.type === 'boolean') for (const n of [kebab(s.key), `no-${kebab(s.key)}`]) booleans.set(n, n);
  for (const a of argv) {
    if (a === '--') break;
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m || !booleans.has(m[1]!)) continue;
    try {
      parseBool(m[2]!, `--${m[1]}`);
    } catch (e) {
      return new UsageError((e as Error).message, `--${m[1]} takes yes/no, true/false or 1/0 (or no value)`);
    }
  }
  return undefined;
}

/** The project file: --config / OSB_CONFIG, else osb.yaml in the current directory when present. */
async function findProjectFile(flags: Record<string, unknown>, environ: NodeJS.ProcessEnv, cwd: string) {
  const given = ([] as unknown[]).concat(flags.config ?? []).at(-1) ?? (environ.OSB_CONFIG || undefined);
  const path = given !== undefined ? resolve(cwd, String(given)) : join(cwd, 'osb.yaml');
  if (given === undefined && !existsSync(path)) return undefined;
  const { loadProjectFile } = await import('./project-file.js');
  return loadProjectFile(path, given !== undefined ? String(given) : 'osb.yaml');
}

/** Parse argv into a command and its settings: flags, env, osb.yaml, the workdir's record, defaults. */
export async function parseCommandLine(argv: readonly string[], environ: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<ParsedCommand> {
  const bad = unknownArgumentError(argv) ?? badBooleanFlag(argv);
  if (bad) throw bad;
  let parsed: Record<string, unknown>;
  try {
    parsed = buildParser(argv, false).parseSync() as Record<string, unknown>;
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
  const rest = (parsed._ as (string | number)[]).map(String);
  const command = rest[0] ?? '';
  if (command && !COMMANDS.some((c) => c.name === command)) {
    const s = suggest(command, COMMANDS.map((c) => c.name));
    throw new UsageError(`unknown command '${command}'`, s ? `did you mean \`osb ${s}\`?` : 'osb --help lists commands');
  }
  // `osb help` must work whatever state osb.yaml or the workdir is in.
  const layered = command !== 'help';
  const project = layered ? await findProjectFile(parsed, environ, cwd) : undefined;
  const r = resolveLayers({ flags: parsed, environ, cwd, project, record: layered ? readRecord : undefined });
  const positional = rest.slice(1);
  const most = command === 'check-deps' || command === 'verify-repro' ? Infinity : command === 'explain' ? 1 : 0;
  if (command === 'explain' && !positional.length) throw new UsageError('osb explain needs a TARGET', 'e.g. osb explain image');
  if (positional.length > most) {
    throw new UsageError(`unexpected argument '${positional[most]}' for osb ${command}`, command === 'boot' ? 'extra kernel arguments go after `--`' : 'osb --help lists each command and its arguments');
  }
  return {
    command,
    positional,
    passthrough: ((parsed['--'] as string[]) ?? []).map(String),
    settings: r.settings,
    sources: r.sources,
    given: r.given,
    project: project?.display,
    flags: { json: parsed.json, install: parsed.install, prefix: parsed.prefix, reset: parsed.reset, schema: parsed.schema, cache: parsed.cache },
  };
}

/** Settings from flags and the environment alone (no osb.yaml, no workdir record): for tests and tools. */
export function resolveSettings(parsed: Record<string, unknown>, environ: NodeJS.ProcessEnv): Settings {
  return resolveLayers({ flags: parsed, environ, cwd: process.cwd() }).settings;
}
