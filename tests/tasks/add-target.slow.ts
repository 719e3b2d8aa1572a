/**
 * Adding a target takes one file under tasks/targets/ and one line in the target table
 * (docs/DESIGN.md, "How to add a target"). Proved on a copy of the source: the fixture target is
 * copied in, its line added, the copy built with `npm run build`'s own steps, and its osb run.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';
import { cleanEnv } from '../helpers/cli.js';

/** The package files and every source folder the build compiles (tsconfig.build.json's include). */
const COPIED = ['package.json', 'tsconfig.json', 'tsconfig.build.json', ...(JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include];
const TABLE_LINE = "  async () => (await import('./greeting.js')).greeting,\n";

let copy: string;
const run = (argv: string[], cwd = copy) => spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8', env: cleanEnv(), maxBuffer: 64 << 20 });
const osb = (...args: string[]) => run([process.execPath, join(copy, 'dist', 'tasks', 'main.cjs'), ...args, '--workdir', join(copy, 'wd')]);

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'osb-add-target-'));
  for (const p of COPIED) cpSync(join(REPO_ROOT, p), join(copy, p), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'));
}, 60_000);
afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('a target from one file and one line', () => {
  test('a settings list that names no setting does not compile', () => {
    cpSync(join(REPO_ROOT, 'tests/fixtures/targets/typo.ts'), join(copy, 'tasks/targets/typo.ts'));
    const r = run([process.execPath, join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.build.json']);
    rmSync(join(copy, 'tasks/targets/typo.ts'));
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/tasks\/targets\/typo\.ts\(\d+,\d+\): error TS\d+: Type '"distroo"' is not assignable to type 'InputKey'/);
    expect(r.stdout.trim().split('\n').filter((l) => /error TS/.test(l))).toHaveLength(1);
  }, 120_000);

  test('the copy with the fixture target and its table line builds', () => {
    cpSync(join(REPO_ROOT, 'tests/fixtures/targets/greeting.ts'), join(copy, 'tasks/targets/greeting.ts'));
    const table = join(copy, 'tasks/targets/index.ts');
    const text = readFileSync(table, 'utf8');
    const at = text.indexOf('];');
    writeFileSync(table, text.slice(0, at) + TABLE_LINE + text.slice(at));
    // The build steps of package.json's "build" script, run in the copy.
    const script = (JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build;
    const r = run(['sh', '-c', script.replace(/^tsc /, `${process.execPath} ${join(REPO_ROOT, 'node_modules/typescript/bin/tsc')} `)]);
    expect([r.status, r.stderr + r.stdout]).toEqual([0, '']);
  }, 180_000);

  test('osb help and osb --help list it with its summary', () => {
    for (const args of [['help'], ['--help']]) {
      const r = osb(...args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^ {2}(osb )?greeting +A greeting in WORKDIR\/greeting\.txt \(a throw-away target of the tests\)$/m);
    }
  });

  test('--dry-run plans it and prints the command it would run, writing nothing', () => {
    const r = osb('greeting', '--dry-run');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('greeting: would build (output missing: ');
    expect(r.stdout).toMatch(/^ {2}would run: sh -c .*hello from \$1.* sh debian \S*\/wd\/greeting\.txt$/m);
    expect(run(['test', '-e', join(copy, 'wd', 'greeting.txt')]).status).not.toBe(0);
  });

  test('osb explain says why it would rebuild, it builds, and then explain names a changed setting', () => {
    const before = osb('explain', 'greeting');
    expect(before.stdout).toMatch(/^greeting would rebuild:\n {2}- output missing: .*greeting\.txt\n {2}- no record of an earlier build\n$/);
    const built = osb('greeting');
    expect([built.status, built.stderr]).toEqual([0, '']);
    expect(readFileSync(join(copy, 'wd', 'greeting.txt'), 'utf8')).toBe('hello from debian\n');
    expect(osb('explain', 'greeting').stdout).toBe('greeting is up to date\n');
    expect(osb('explain', 'greeting', '--distro', 'alpine').stdout).toContain('input changed: setting distro: debian (default) -> alpine (flag --distro)');
  });

  test('osb check-deps asks for the tools it says it runs', () => {
    const r = osb('check-deps', 'greeting');
    expect(r.stdout).toMatch(/^greeting sh +ok /m);
  });
});
