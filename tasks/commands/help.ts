/** `osb help`: every command, and every option with its environment variables and default. */
import type { CommandRun } from '../cli/command.js';
import { renderHelp } from '../cli/help.js';

export const run: CommandRun = async (_cmd, { commands }) => {
  process.stdout.write(renderHelp(commands));
  return 0;
};
