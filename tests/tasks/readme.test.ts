/** The README's options table is generated from the settings table; this fails when they drift. */
import { expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHelp, updateReadme } from '../../tasks/help.js';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';

test('README options table matches tasks/settings.ts (run `npm run readme` to update)', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  expect(updateReadme(readme)).toBe(readme);
});

test('README gives the test command first thing, and it is the one CI runs', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
  expect(firstBlock).toMatch(/(^|&& )npm test$/m);
  expect(ci).toMatch(/^npm test\b/m);
  // The same package list for people and for CI.
  expect(firstBlock).toContain("$(grep -v '^#' .ci/packages)");
  expect(ci).toContain("$(grep -v '^#' .ci/packages)");
});

test("the README's first section shows the design card's commands in order, and osb help states the precedence", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const first = readme.slice(0, readme.indexOf('\n## '));
  // Each command found after the one before it, on lines of their own.
  let at = 0;
  for (const c of ['npx osb rootfs --distro alpine --agent-init', 'npx osb image ', 'npx osb initrd ', 'npx osb kernel ', 'npx osb check-deps ']) {
    at = first.indexOf(`\n${c}`, at);
    expect([c, at > 0]).toEqual([c, true]);
  }
  expect(renderHelp()).toContain('flag > OSB_* env > Kata env name > osb.yaml (or --config FILE)\n> the workdir (settings earlier commands in it were given) > default');
});
