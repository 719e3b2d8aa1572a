/** The README's two first commands, as its first code block gives them (tests run them, or check them). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './fixture-rootfs.js';

/** `# 1.` and `# 2.` each name the line after them: the build-and-boot command and the test command. */
export function readmeCommands(readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')): { build: string; test: string } {
  const lines = /```sh\n([\s\S]*?)```/.exec(readme)![1]!.split('\n');
  const after = (n: string) => lines[lines.findIndex((l) => l.startsWith(`# ${n}.`)) + 1]!;
  return { build: after('1'), test: after('2') };
}
