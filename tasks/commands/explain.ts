/** `osb explain TARGET`: would it rebuild, and which input changed (and where its value came from). */
import type { CommandRun } from '../cli/command.js';
import { checkWorkdir, planFor } from './workdir.js';

export const run: CommandRun = async (cmd) => {
  const s = cmd.settings;
  const target = cmd.positional[0]!;
  checkWorkdir(s);
  const steps = await planFor([target], s);
  for (const step of steps) {
    const verdict = step.action === 'build' ? 'would rebuild' : 'is up to date';
    process.stdout.write(`${step.target.name} ${verdict}${step.action === 'build' ? ':' : ''}\n`);
    if (step.action === 'build') for (const r of step.reasons) process.stdout.write(`  - ${r}\n`);
  }
  return 0;
};
