/**
 * What a command is (the command table, tasks/commands/index.ts, holds one entry a command) and
 * what it is given once the command line is parsed. Types only: the table, the parser and the
 * commands all import this file, and it imports nothing of theirs.
 */
import type { Settings } from '../settings/table.js';
import type { Source } from './resolve.js';

export interface ParsedCommand {
  readonly command: string;
  readonly positional: readonly string[];
  /** Arguments after `--` (boot: extra kernel arguments); also in settings.passthrough. */
  readonly passthrough: readonly string[];
  readonly settings: Settings;
  /** Where each setting's value came from (flag, env, osb.yaml:line, workdir, default). */
  readonly sources: Readonly<Record<string, Source>>;
  /** Input settings given explicitly: recorded in the workdir by commands that write it. */
  readonly given: Readonly<Record<string, unknown>>;
  /** The project file in use, as the user names it. */
  readonly project?: string;
  /** The values of this command's own flags (check-deps --json, clean --cache, ...), by name. */
  readonly flags: Readonly<Record<string, boolean | string | undefined>>;
}

/** A flag only some commands take (check-deps --install): not a setting, never recorded. */
export interface CommandFlag {
  readonly name: string;
  readonly type: 'boolean' | 'string';
  readonly describe: string;
}

/** The words after the command: `explain TARGET`, `check-deps [TARGET...]`. */
export interface CommandArgs {
  /** As usage shows one of them: TARGET. */
  readonly name: string;
  readonly min: number;
  readonly max: number;
}

/** What a command's code gets beside the parsed command line. */
export interface CommandEnv {
  readonly signal: AbortSignal;
  /** The whole command table (osb help lists it). */
  readonly commands: readonly CommandSpec[];
}

export type CommandRun = (cmd: ParsedCommand, env: CommandEnv) => Promise<number>;

export interface CommandSpec {
  readonly name: string;
  /** One line for `osb help`, `osb --help` and the README's command table. */
  readonly summary: string;
  /** The words it takes after its name; none when absent. */
  readonly args?: CommandArgs;
  /** Said when it is given words it does not take (boot: "extra kernel arguments go after `--`"). */
  readonly extraArgsHint?: string;
  readonly flags?: readonly CommandFlag[];
  /** It reads osb.yaml and the workdir's record (all but `osb help`, which must work whatever state they are in). */
  readonly layered?: boolean;
  /** Its code, loaded only when it runs. */
  readonly load: () => Promise<CommandRun>;
}

/** `explain TARGET`, `check-deps [TARGET...]`: the command as usage and the README write it. */
export function usageOf(c: CommandSpec): string {
  const a = c.args;
  if (!a) return c.name;
  const one = a.max === 1 ? a.name : `${a.name}...`;
  return `${c.name} ${a.min > 0 ? one : `[${one}]`}`;
}
