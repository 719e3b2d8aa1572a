import { resolve } from 'node:path';
import type { CommandRun } from '../cli/command.js';
import { kernelPaths } from '../settings/paths.js';

/** `osb install-kernel [--prefix DIR]`: the built kernel where Kata looks for it. */
export const run: CommandRun = async (cmd) => {
  const { DEFAULT_PREFIX, installKernel } = await import('../../kernel-builder/install.js');
  const prefix = resolve(typeof cmd.flags.prefix === 'string' ? cmd.flags.prefix : DEFAULT_PREFIX);
  for (const p of await installKernel(kernelPaths(cmd.settings), prefix, cmd.settings.force)) process.stdout.write(`installed ${p}\n`);
  return 0;
};
