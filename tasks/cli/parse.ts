/**
 * The command line, built by a factory so tests can drive it with an argv array. Parsing only:
 * no builder is loaded here, so `osb --help` stays fast.
 */
import yargs from 'yargs';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { SETTINGS, kebab, parseBool, type Settings } from '../settings/table.js';
import { usageOf, type CommandFlag, type CommandSpec, type ParsedCommand } from './command.js';
import { readRecord } from './record.js';
import { resolveLayers } from './resolve.js';
import { suggest } from './suggest.js';

/** Every command's own flags, each name once (check-deps and config both take --json). */
function commandFlags(commands: readonly CommandSpec[]): CommandFlag[] {
  const byName = new Map<string, CommandFlag>();
  for (const c of commands) for (const f of c.flags ?? []) if (!byName.has(f.name)) byName.set(f.name, f);
  return [...byName.values()];
}

/**
 * Whether argv names an option (`--x`, `--x=v`, `--no-x`, `-x`, `-abc`), with its alias: a parse
 * declares only these to yargs. Declaring all ~150 settings for every run was a fifth of the time
 * before the first tool; unknown options are refused before yargs runs (unknownArgumentError).
 */
function mentionedIn(argv: readonly string[]): (name: string, alias?: string) => boolean {
  const names = new Set<string>();
  for (const a of argv) {
    if (a === '--') break;
    const long = /^--([^=]+)/.exec(a);
    if (long) names.add(long[1]!).add(long[1]!.replace(/^no-/, ''));
    else if (/^-[^-\d]/.test(a)) for (const c of a.slice(1).split('=')[0]!) names.add(c);
  }
  return (name, alias) => names.has(name) || (alias !== undefined && names.has(alias));
}

/**
 * The yargs parser. Settings are declared without defaults so we can tell flags from defaults.
 * The commands are declared for `osb --help` only: parseCommandLine checks the command itself,
 * and a declared command makes yargs render and cache the whole help text on every parse.
 */
export function buildParser(argv: readonly string[], commands: readonly CommandSpec[], withCommands = true) {
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
  if (withCommands) for (const c of commands) y = y.command(yargsUsage(c), c.summary);
  // The help shows every option; a parse needs only those it is given.
  const declare = withCommands ? () => true : mentionedIn(argv);
  for (const s of SETTINGS) {
    if (!declare(kebab(s.key), s.alias)) continue;
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
    .epilogue('      --no-deps          Build only the named target; fail if an input it needs is missing\n\nTarget options (--distro, --fs-type, --compression, ...): `osb help`.');
  for (const f of commandFlags(commands)) if (declare(f.name)) y = y.option(f.name, { type: f.type, describe: f.describe, hidden: true });
  return y;
}

/** yargs' form of the usage: `explain <target>`, `check-deps [targets..]`. */
function yargsUsage(c: CommandSpec): string {
  const a = c.args;
  if (!a) return c.name;
  const word = a.name.toLowerCase() + (a.max > 1 ? 's..' : '');
  return `${c.name} ${a.min > 0 ? `<${word}>` : `[${word}]`}`;
}

function unknownArgumentError(argv: readonly string[], commands: readonly CommandSpec[]): UsageError | undefined {
  const known = new Set<string>(['help', 'h', ...commandFlags(commands).map((f) => f.name)]);
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
    const command = commands.find((c) => c.name === name);
    const hint = command ? `${name} is a command: osb ${usageOf(command)}` : s ? `did you mean --${s}? (osb help lists every option)` : 'osb help lists every option';
    return new UsageError(`unknown option ${a.split('=')[0]}`, hint);
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

/**
 * Parse argv into a command and its settings: flags, env, osb.yaml, the workdir's record,
 * defaults. `commands` is the command table: the command, its words and its flags are checked
 * against its entry.
 */
export async function parseWith(commands: readonly CommandSpec[], argv: readonly string[], environ: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<ParsedCommand> {
  const bad = unknownArgumentError(argv, commands) ?? badBooleanFlag(argv);
  if (bad) throw bad;
  let parsed: Record<string, unknown>;
  try {
    parsed = buildParser(argv, commands, false).parseSync() as Record<string, unknown>;
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
  const rest = (parsed._ as (string | number)[]).map(String);
  const command = rest[0] ?? '';
  const spec = commands.find((c) => c.name === command);
  if (command && !spec) {
    const s = suggest(command, commands.map((c) => c.name));
    throw new UsageError(`unknown command '${command}'`, s ? `did you mean \`osb ${s}\`?` : 'osb --help lists commands');
  }
  const own = new Set((spec?.flags ?? []).map((f) => f.name));
  for (const f of commandFlags(commands)) {
    if (parsed[f.name] === undefined || own.has(f.name)) continue;
    const takers = commands.filter((c) => c.flags?.some((x) => x.name === f.name)).map((c) => `osb ${c.name}`);
    throw new UsageError(`--${f.name} is not an option of osb ${command || '(no command)'}`, `${takers.join(' and ')} take${takers.length > 1 ? '' : 's'} it`);
  }
  // `osb help` must work whatever state osb.yaml or the workdir is in.
  const layered = spec?.layered !== false;
  const project = layered ? await findProjectFile(parsed, environ, cwd) : undefined;
  const r = resolveLayers({ flags: parsed, environ, cwd, project, record: layered ? readRecord : undefined });
  const positional = rest.slice(1);
  const args = spec?.args;
  if (spec && args && positional.length < args.min) throw new UsageError(`osb ${command} needs a ${args.name}`, `e.g. osb ${command} image`);
  const most = args?.max ?? 0;
  if (positional.length > most) {
    throw new UsageError(`unexpected argument '${positional[most]}' for osb ${command}`, spec?.extraArgsHint ?? 'osb --help lists each command and its arguments');
  }
  const passthrough = ((parsed['--'] as string[]) ?? []).map(String);
  return {
    command,
    positional,
    passthrough,
    settings: { ...r.settings, passthrough },
    sources: r.sources,
    given: r.given,
    project: project?.display,
    flags: Object.fromEntries([...own].map((n) => [n, parsed[n] as boolean | string | undefined])),
  };
}

/** Settings from flags and the environment alone (no osb.yaml, no workdir record): for tests and tools. */
export function resolveSettings(parsed: Record<string, unknown>, environ: NodeJS.ProcessEnv): Settings {
  return resolveLayers({ flags: parsed, environ, cwd: process.cwd() }).settings;
}
