/**
 * osb's error types. Only the entry point (tasks/main.ts) prints them: one line saying what
 * failed, one saying what to do, a stack only with --debug or for an InternalError.
 */

/** A failure the user can act on. `hint` says what to do about it. */
export class OsbError extends Error {
  readonly hint: string | undefined;
  /** Process exit code the entry point uses for this error. */
  readonly exitCode: number = 1;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'OsbError';
    this.hint = hint;
  }
}

/** Bad command line or settings: exit 2, nothing was started. */
export class UsageError extends OsbError {
  override readonly exitCode = 2;
  constructor(message: string, hint?: string) {
    super(message, hint ?? 'see `osb help`');
    this.name = 'UsageError';
  }
}

/** A subprocess failed. Carries the exact command so the user can paste it. */
export class CommandError extends OsbError {
  readonly argv: readonly string[];
  readonly code: number | undefined;
  readonly tail: readonly string[];
  readonly logPath: string | undefined;
  constructor(opts: {
    argv: readonly string[];
    code?: number;
    signal?: string;
    tail: readonly string[];
    logPath?: string;
    message?: string;
    hint?: string;
  }) {
    const how = opts.signal ? `was killed by ${opts.signal}` : `exited with code ${opts.code}`;
    super(opts.message ?? `command ${how}: ${shellQuote(opts.argv)}`, opts.hint ?? (opts.logPath ? `full output in ${opts.logPath}` : undefined));
    this.name = 'CommandError';
    this.argv = opts.argv;
    this.code = opts.code;
    this.tail = opts.tail;
    this.logPath = opts.logPath;
  }
}

/** A bug in osb: printed with its stack. */
export class InternalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InternalError';
  }
}

/** Raised when the user interrupts (Ctrl-C): exit 130. */
export class InterruptedError extends OsbError {
  override readonly exitCode = 130;
  constructor(signal = 'SIGINT') {
    super(`interrupted by ${signal}`, 'nothing was left under a final output name; run the command again to continue');
    this.name = 'InterruptedError';
  }
}

/** Quote an argv so it can be pasted into a POSIX shell. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
