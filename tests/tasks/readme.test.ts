/** The README's options table is generated from the settings table; this fails when they drift. */
import { expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHelp, updateReadme } from '../../tasks/cli/help.js';
import { commandTable } from '../../tasks/commands/index.js';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';
import { readmeCommands } from '../helpers/readme.js';

test('README command and options tables match the command and settings tables (run `npm run readme` to update)', async () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  expect(updateReadme(readme, await commandTable())).toBe(readme);
});

test('README gives the test command first thing, and it is the one CI runs', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
  const { test: command } = readmeCommands(readme);
  expect(command).toMatch(/ && npm test$/);
  // .ci/run runs each part of the README's command, as a command line of its own, in order.
  let at = 0;
  for (const part of command.split(' && ')) {
    const m = new RegExp(`^${part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'm').exec(ci.slice(at));
    expect([part, Boolean(m)]).toEqual([part, true]);
    at += m!.index + m![0].length;
  }
  // The setup installs the same package list for people and for CI, and binfmt for the arch tests.
  const setup = readFileSync(join(REPO_ROOT, '.ci', 'setup'), 'utf8');
  expect(command.startsWith('.ci/setup && ')).toBe(true);
  expect(setup).toContain("$(grep -v '^#' .ci/packages)");
  expect(setup).toMatch(/^mountpoint -q \/proc\/sys\/fs\/binfmt_misc \|\| mount -t binfmt_misc/m);
  expect(setup).toMatch(/update-binfmts --enable qemu-aarch64/);
  expect(setup).toMatch(/^npm ci\b/m);
});

test('README command 1 installs Debian\'s nodejs and npm only when there is no npm (NodeSource\'s nodejs conflicts with it)', () => {
  const { build } = readmeCommands(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  expect(build).toContain('{ command -v npm >/dev/null || apt-get install -y nodejs npm; }');
  expect(build).not.toMatch(/(^|&& )apt-get install -y nodejs npm/);
  expect(build).toMatch(/&& npx osb check-deps --install [a-z ]+ &&/);
});

test("the README's first section shows the design card's commands in order, and osb help states the precedence", async () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const first = readme.slice(0, readme.indexOf('\n## '));
  // Each command found after the one before it, on lines of their own.
  let at = 0;
  for (const c of ['npx osb rootfs --distro alpine --agent-init', 'npx osb image ', 'npx osb initrd ', 'npx osb kernel ', 'npx osb check-deps ']) {
    at = first.indexOf(`\n${c}`, at);
    expect([c, at > 0]).toEqual([c, true]);
  }
  expect(renderHelp(await commandTable())).toContain('flag > OSB_* env > Kata env name > osb.yaml (or --config FILE)\n> the workdir (settings earlier commands in it were given) > default');
});
