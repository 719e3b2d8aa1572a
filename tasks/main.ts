#!/usr/bin/env node
/**
 * The entry point: parse, dispatch through the command table, and the only place errors are
 * printed. Exit 2 for usage errors, 1 for failures, 130 on Ctrl-C. Heavy modules load only for
 * the commands that need them.
 */
import { CommandError, InternalError, OsbError, UsageError } from '../lib/errors.js';
import type { CommandSpec } from './cli/command.js';
import { parseWith } from './cli/parse.js';
import { commandTable } from './commands/index.js';

async function printError(err: unknown, debug: boolean): Promise<number> {
  // Colour only where stderr is a terminal that wants it (chalk's own detection); loaded only for errors.
  const c = (await import('chalk')).chalkStderr;
  const w = (s: string) => process.stderr.write(`${s.replace(/^osb: (hint: )?/, (_m, h: string | undefined) => (h ? c.yellow('osb: hint: ') : c.red.bold('osb: ')))}\n`);
  if (err instanceof OsbError) {
    w(`osb: ${err.message}`);
    const inner = (err as { cause?: unknown }).cause;
    const cmd = err instanceof CommandError ? err : inner instanceof CommandError ? inner : undefined;
    if (cmd && cmd.tail.length) {
      w(`osb: last ${cmd.tail.length} lines of output:`);
      for (const l of cmd.tail) w(`  | ${l}`);
    }
    if (cmd?.logPath) w(`osb: full log: ${cmd.logPath}`);
    const hint = err.hint ?? (inner instanceof OsbError ? inner.hint : undefined);
    if (hint && !(cmd?.logPath && hint.includes(cmd.logPath))) w(`osb: hint: ${hint}`);
    if (debug && err.stack) w(err.stack);
    if (debug && inner instanceof Error && inner.stack) w(inner.stack);
    return err.exitCode;
  }
  const e = err instanceof Error ? err : new InternalError(String(err));
  w(`osb: internal error: ${e.message}`);
  w('osb: hint: this is a bug in osb; please report it with the output of --debug');
  w(e.stack ?? '');
  return 1;
}

async function dispatch(commands: readonly CommandSpec[], argv: readonly string[], signal: AbortSignal): Promise<number> {
  const cmd = await parseWith(commands, argv);
  const spec = commands.find((c) => c.name === cmd.command);
  if (!spec) throw new UsageError('no command given', 'run `osb --help` for the commands, `osb help` for every option');
  return (await spec.load())(cmd, { signal, commands });
}

async function main(argv: string[]): Promise<number> {
  // `osb config | head`: a closed pipe ends the output, not the process with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const debug = argv.includes('--debug') || /^(1|yes|true)$/i.test(process.env.OSB_DEBUG ?? process.env.DEBUG ?? '');
  const ac = new AbortController();
  let interrupted: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = sig;
    ac.abort(sig);
    void (async () => {
      const { runCleanups } = await import('../lib/cleanup.js');
      await runCleanups();
      process.stderr.write(`osb: interrupted by ${sig}; nothing incomplete was left under an output's final name\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (argv.length === 1 && argv[0] === '--version') {
      process.stdout.write(`osb ${(await import('../lib/package-root.js')).packageVersion()}\n`);
      return 0;
    }
    const commands = await commandTable();
    if (argv.includes('--help') || argv.includes('-h')) {
      const { buildParser } = await import('./cli/parse.js');
      buildParser([], commands).showHelp((text) => process.stdout.write(text + '\n'));
      return 0;
    }
    return await dispatch(commands, argv, ac.signal);
  } catch (err) {
    if (interrupted) return new Promise(() => {}); // the signal handler exits
    const { runCleanups } = await import('../lib/cleanup.js');
    await runCleanups();
    return await printError(err, debug);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  async (err) => {
    process.exitCode = await printError(err, true);
  },
);
