/**
 * Package scripts, run the way apk-tools runs them (src/package.c, apk_ipkg_run_script): the
 * script is written to /lib/apk/exec/<name>-<version>.<type> inside the tree and executed there
 * in a chroot, by its own #! line (busybox's post-install starts with #!/bin/busybox sh, because
 * /bin/sh does not exist yet), with the new version as $1 and only PATH set; a missing /dev gets the
 * few device nodes apk creates for scripts (make_device_tree). Triggers run last, with the
 * directories the transaction touched that match the package's trigger globs.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirMode } from '../../../lib/modes.js';
import type { BuildContext } from '../../../lib/context.js';
import { CommandError, OsbError } from '../../../lib/errors.js';
import type { IndexPackage } from './apkindex.js';
import type { ScriptType } from './package.js';

/** apk's script environment: PATH and nothing else of note. */
const SCRIPT_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const EXEC_DIR = 'lib/apk/exec';

/** The device nodes apk makes for scripts when the tree has no /dev: [name, mode, type, major, minor]. */
const DEVICES: ReadonlyArray<[string, string, string, number, number]> = [
  ['null', '666', 'c', 1, 3],
  ['zero', '666', 'c', 1, 5],
  ['random', '666', 'c', 1, 8],
  ['urandom', '666', 'c', 1, 9],
  ['console', '600', 'c', 5, 1],
];

async function prepareScriptDirs(ctx: BuildContext, root: string): Promise<void> {
  await mkdirMode(join(root, 'tmp'), 0o755);
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdirMode(join(root, EXEC_DIR), 0o755);
  await chmod(join(root, EXEC_DIR), 0o700);
  if (existsSync(join(root, 'dev'))) return;
  await mkdirMode(join(root, 'dev'), 0o755);
  for (const [name, mode, type, major, minor] of DEVICES) {
    await ctx.run(['mknod', '-m', mode, join(root, 'dev', name), type, String(major), String(minor)], { quiet: true });
  }
}

/** Run one script of `pkg` with `args` after the type; a failure names the package and script. */
export async function runScript(ctx: BuildContext, root: string, pkg: IndexPackage, type: ScriptType, script: Buffer, args: readonly string[]): Promise<void> {
  await prepareScriptDirs(ctx, root);
  const rel = `${EXEC_DIR}/${pkg.name}-${pkg.version}.${type}`;
  await writeFile(join(root, rel), script, { mode: 0o755 });
  await chmod(join(root, rel), 0o755);
  ctx.log.info(`Executing ${pkg.name}-${pkg.version}.${type}`);
  try {
    // apk passes the type as argv[0], which a #! script does not see: its $1 is the version.
    await ctx.run(['chroot', root, `/${rel}`, ...args], { cwd: root, env: { PATH: SCRIPT_PATH } });
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    const tail = e.tail.filter(Boolean).slice(-3).join(' | ');
    throw new OsbError(`${pkg.name}-${pkg.version}: its .${type} script ${e.code === undefined ? 'was killed' : `exited with code ${e.code}`}${tail ? `: ${tail}` : ''}`, e.logPath ? `full output in ${e.logPath}` : undefined);
  } finally {
    await rm(join(root, rel), { force: true });
  }
}

/** fnmatch(3) with FNM_PATHNAME, as apk matches trigger globs against directories. */
export function globMatches(glob: string, path: string): boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(path);
}

export interface TriggerPackage {
  readonly pkg: IndexPackage;
  readonly globs: readonly string[];
  readonly script: Buffer | undefined;
}

/** Run each package's trigger once, with the touched directories (`/bin`, ...) its globs match. */
export async function runTriggers(ctx: BuildContext, root: string, packages: readonly TriggerPackage[], touched: ReadonlySet<string>): Promise<void> {
  const dirs = [...touched].sort();
  for (const t of packages) {
    if (!t.script || t.globs.length === 0) continue;
    const matched = dirs.filter((d) => t.globs.some((g) => globMatches(g, d)));
    if (matched.length) await runScript(ctx, root, t.pkg, 'trigger', t.script, matched);
  }
}
