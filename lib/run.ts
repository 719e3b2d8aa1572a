/**
 * The one subprocess layer (DESIGN principle 5): argv arrays only, stdin ignored unless a stream
 * is asked for, an environment allow-list plus LANG and SOURCE_DATE_EPOCH, every line of output
 * to the target's log, and failures turned into CommandError with the exact command.
 */
import type { ResultPromise } from 'execa';
import { createWriteStream, type WriteStream } from 'node:fs';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CommandError, OsbError, shellQuote } from './errors.js';
import type { Reporter } from './log.js';
import { missingToolMessage } from './tools.js';

/** Variables passed through from the caller's environment; everything else is dropped. */
const ENV_ALLOW = ['PATH', 'HOME', 'TMPDIR', 'TERM', 'USER', 'LOGNAME', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'];
const TAIL_LINES = 20;
/** The umask every tool runs under (see launch). */
export const TOOL_UMASK = 0o022;

export interface RunOptions {
  readonly cwd?: string;
  /** Extra environment variables (added to the allow-listed ones). */
  readonly env?: Readonly<Record<string, string>>;
  /** Bytes for stdin; without it stdin is ignored. */
  readonly input?: string | Buffer;
  /** Write stdout to this file instead of capturing it. */
  readonly stdoutFile?: string;
  /** Pipe stdout, as bytes, into this stream instead of capturing it (not logged, not kept). */
  readonly stdoutTo?: Writable;
  /** Do not echo stdout lines to the log (large or binary output). */
  readonly quiet?: boolean;
  /** Return the result instead of throwing when the exit code is not 0. */
  readonly allowFail?: boolean;
  /** Run even in --dry-run: for commands that only read (e.g. `--version`, listing a package database). */
  readonly readOnly?: boolean;
  /** Hint for the CommandError if it fails. */
  readonly hint?: string;
  /** Called with every line of output (stdout and stderr), e.g. to count progress. */
  readonly onLine?: (line: string) => void;
  /** Stop the process when this aborts (in addition to the user's Ctrl-C). */
  readonly cancel?: AbortSignal;
  /** Give the process the terminal (an interactive console); nothing is captured. */
  readonly interactive?: boolean;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface Runner {
  (argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * Run a process with `source()` on its stdin (a pipeline stage, e.g. a compressor). Resolves
   * when both are done. When it fails, the error that explains it is thrown: an interrupt, osb's
   * own error while producing the data, else the tool's (e.g. "zstd not found"), not the EPIPE
   * it caused. In --dry-run the command is shown and `source` is never called.
   */
  feed(argv: readonly string[], source: () => Readable, opts?: RunOptions): Promise<RunResult>;
  /** The path of the log file this runner writes, if any. */
  readonly logPath: string | undefined;
}

export interface RunnerOptions {
  readonly reporter: Reporter;
  /** Append subprocess output here (created if missing). */
  readonly logPath?: string;
  readonly dryRun?: boolean;
  /** Echo `+ cmd` for every command. */
  readonly debug?: boolean;
  readonly sourceDateEpoch: number;
  readonly signal?: AbortSignal;
}

/**
 * execa, loaded on the first command run: it is the largest module osb has, and commands that
 * spawn nothing (publish to a registry, a no-op build, config, explain) should not pay for it.
 */
let execaFn: typeof import('execa').execa | undefined;
async function loadExeca(): Promise<typeof import('execa').execa> {
  return (execaFn ??= (await import('execa')).execa);
}

export function baseEnv(sourceDateEpoch: number, extra?: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ENV_ALLOW) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  env.LANG = 'C.UTF-8';
  env.LC_ALL = 'C.UTF-8';
  env.SOURCE_DATE_EPOCH = String(sourceDateEpoch);
  return { ...env, ...extra };
}

export function createRunner(o: RunnerOptions): Runner {
  let log: WriteStream | undefined;
  const logLine = (line: string) => {
    if (!o.logPath) return;
    if (!log) {
      mkdirSync(dirname(o.logPath), { recursive: true });
      log = createWriteStream(o.logPath, { flags: 'a' });
    }
    log.write(line + '\n');
  };

  const spawnTool = (argv: readonly string[], opts: RunOptions, outFd: number | undefined, stdinPipe: boolean): ResultPromise =>
    execaFn!(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: baseEnv(o.sourceDateEpoch, opts.env),
      extendEnv: false,
      stdin: opts.interactive ? 'inherit' : opts.input !== undefined ? 'pipe' : stdinPipe ? 'pipe' : 'ignore',
      input: opts.input,
      stdout: opts.interactive ? 'inherit' : outFd !== undefined ? outFd : 'pipe',
      stderr: opts.interactive ? 'inherit' : 'pipe',
      reject: false,
      stripFinalNewline: false,
      cancelSignal: o.signal && opts.cancel ? AbortSignal.any([o.signal, opts.cancel]) : (opts.cancel ?? o.signal),
      forceKillAfterDelay: 3000,
      maxBuffer: 256 * 1024 * 1024,
      ...(opts.stdoutTo ? { buffer: { stdout: false } } : {}),
      encoding: 'utf8',
    } as never) as unknown as ResultPromise;

  const launch = (argv: readonly string[], opts: RunOptions, stdinPipe: boolean) => {
    const cmd = shellQuote(argv);
    logLine(`+ ${cmd}`);
    if (o.debug) o.reporter.info(`+ ${cmd}`);
    const tail: string[] = [];
    const onLine = (line: string, isErr: boolean) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      opts.onLine?.(line);
      if (!isErr && opts.quiet) return;
      logLine(line);
      o.reporter.output(line);
    };
    // A file descriptor, not execa's {file}: that would pipe every byte through Node's heap.
    const outFd = opts.stdoutFile && !opts.interactive ? openSync(opts.stdoutFile, 'w') : undefined;
    // Every tool runs under umask 022, whatever the caller's: what mmdebstrap, apt, dpkg or a hook
    // creates in a tree gets the mode the distro's packages give it, not one that follows the
    // user's umask (077 would make /var/cache/apt/archives 0700 in one build and 0755 in
    // another). A child takes the umask at spawn, which is synchronous here.
    const callerUmask = process.umask(TOOL_UMASK);
    let child: ResultPromise;
    try {
      child = spawnTool(argv, opts, outFd, stdinPipe);
    } finally {
      process.umask(callerUmask);
    }
    if (outFd !== undefined) closeSync(outFd); // the child holds its own copy
    const lines = (stream: NodeJS.ReadableStream | null, isErr: boolean) => {
      if (!stream) return;
      let buf = '';
      stream.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i), isErr);
          buf = buf.slice(i + 1);
        }
      });
      stream.on('end', () => {
        if (buf) onLine(buf, isErr);
      });
    };
    // Bytes for a consumer of ours (a compressor's output): piped with backpressure, and what
    // fails in that consumer fails the run.
    const piped = opts.stdoutTo ? pipeline(child.stdout as unknown as Readable, opts.stdoutTo) : undefined;
    piped?.catch(() => child.kill());
    if (!opts.stdoutTo) lines(child.stdout as NodeJS.ReadableStream | null, false);
    lines(child.stderr as NodeJS.ReadableStream | null, true);
    const done = (async (): Promise<RunResult> => {
      const [r] = (await Promise.all([child, piped])) as unknown as [{
        stdout?: string; stderr?: string; exitCode?: number; signal?: string; code?: string; failed: boolean; isCanceled?: boolean;
      }];
      if (r.code === 'ENOENT' || (r.exitCode === 127 && /not found/.test(r.stderr ?? ''))) {
        const m = missingToolMessage(argv[0]!);
        throw new OsbError(m.message, m.hint);
      }
      const res = { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? -1 };
      if (r.failed && !(opts.allowFail && r.exitCode !== undefined)) {
        throw new CommandError({ argv, code: r.exitCode, signal: r.signal, tail: [...tail], logPath: o.logPath, hint: opts.hint });
      }
      return res;
    })();
    return { child, done };
  };

  const dry = (argv: readonly string[]): RunResult => {
    o.reporter.info(`would run: ${shellQuote(argv)}`);
    return { stdout: '', stderr: '', exitCode: 0 };
  };

  const run = (async (argv: readonly string[], opts: RunOptions = {}) => {
    if (o.dryRun && !opts.readOnly) return dry(argv);
    await loadExeca();
    return launch(argv, opts, false).done;
  }) as Runner;
  run.feed = async (argv, source, opts = {}) => {
    if (o.dryRun && !opts.readOnly) return dry(argv);
    await loadExeca();
    const { child, done } = launch(argv, opts, true);
    // Whatever happens, wait for the tool to exit before returning: until then it (or the
    // stream execa writes its stdout through) may still create or write its output, which the
    // caller removes on failure.
    const exited = done.then(
      () => undefined,
      (e: unknown) => e,
    );
    try {
      await pipeline(source(), child.stdin as Writable);
    } catch (writeError) {
      (child.stdin as Writable).destroy();
      const toolError = await exited;
      // An interrupt kills the tool too (cancelSignal); the interrupt is what to report.
      if (o.signal?.aborted) throw o.signal.reason;
      // Our own errors (a file changed size while read, an abort) are the cause and win. Anything
      // else here is a symptom (EPIPE, premature close) of a missing or dead tool, whose own
      // error names the command or the package to install.
      const ours = writeError instanceof OsbError || (writeError as Error).name === 'AbortError';
      throw ours || !toolError ? writeError : toolError;
    }
    const toolError = await exited;
    if (toolError) throw o.signal?.aborted ? o.signal.reason : toolError;
    return done;
  };
  Object.defineProperty(run, 'logPath', { value: o.logPath });
  return run;
}
