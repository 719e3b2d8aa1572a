/**
 * The small reporting interface builders use. Builders never print directly: they call these,
 * and tasks/ decides where it goes (listr2 task output, plain lines, NDJSON, the target's log).
 */
export interface Reporter {
  /** A step of progress a user wants to see ("writing partition table"). */
  info(message: string): void;
  /** Something the user should know but that does not stop the build. */
  warn(message: string): void;
  /** Detail shown only with --debug (always written to the log file). */
  debug(message: string): void;
  /** One line of subprocess output: always to the log file, to the screen with --verbose. */
  output(line: string): void;
}

/** A reporter that drops everything: for library use and unit tests. */
export const silentReporter: Reporter = {
  info() {},
  warn() {},
  debug() {},
  output() {},
};
