/** `osb list-distros`: the distros osb builds, with their default releases. */
import type { CommandRun } from '../cli/command.js';

export const run: CommandRun = async () => {
  const { DISTROS } = await import('../../distros/index.js');
  for (const d of DISTROS) process.stdout.write(`${d.name.padEnd(8)} default ${d.defaultRelease.padEnd(9)} ${d.describe}\n`);
  return 0;
};
