/**
 * ansible-layer: Ansible playbooks run against an unpacked root filesystem tree, as OpenCHAMI's
 * image-build runs its "ansible" layers, without a container engine: Debian's ansible-core with
 * the community.general.chroot connection (Debian's `ansible` package), the tree as the one host.
 *
 *   check options, tree, root, tools → the tree's python3 (found, and able to import what
 *   Ansible's modules need) → an inventory that puts the tree in each group, the variables →
 *   ansible-playbook -i USER... -i OSB -c community.general.chroot --limit osb-image
 *   -e @VARS -e @OSB-VARS [-v...] PLAYBOOK... → remove Ansible's temporaries from the tree
 *
 * image-build adds its container to each group of the given inventory and sets `vars` as host
 * variables; osb leaves the user's inventories as they are and adds one of its own beside them
 * (so group_vars/ and host_vars/ of the user's inventory directories apply), and passes `vars`
 * as extra vars (-e), which win over every other variable.
 *
 * The chroot connection runs `chroot TREE /bin/sh -c ...` for every step, as root, so each
 * module and each command of a task runs in the tree. What runs on the controller, the host, is
 * Ansible itself: lookups (`lookup('pipe', ...)`, `lookup('file', ...)`), templates' rendering,
 * and modules that write on the controller by design (`fetch`). A playbook is code run as root on
 * the host; osb keeps the connection on the tree (see osbVars in command.ts), not the playbook
 * from the host.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withCleanup } from '../lib/cleanup.js';
import type { BuildContext } from '../lib/context.js';
import { InterruptedError, OsbError } from '../lib/errors.js';
import { isRoot, which } from '../lib/host.js';
import type { RunOptions, RunResult } from '../lib/run.js';
import type { ToolInfo } from '../lib/tools.js';
import { ansibleEnv, extraInventory, osbVars, playbookArgv, runFiles, TREE_TEMP, type RunFiles } from './command.js';
import { FailureReader, type PlaybookFailure } from './failure.js';
import { checkAnsibleOptions, HOST_NAME, type AnsibleOptions } from './options.js';
import { entryExists, entryInTree, findPython, removeEntry } from './tree.js';

export { checkAnsibleOptions, HOST_NAME, RESERVED_VARS, MAX_VERBOSITY, type AnsibleOptions } from './options.js';
export { playbookArgv, ansibleEnv, extraInventory, osbVars, runFiles, CONNECTION, TREE_TEMP, type RunFiles } from './command.js';
export { FailureReader, type PlaybookFailure } from './failure.js';
export { findPython } from './tree.js';

/** The host tools a layer runs, for check-deps. */
export function ansibleHostTools(): string[] {
  return ['ansible-playbook', 'chroot'];
}

/** The packages of ansibleHostTools(), in the shape of lib/tools.ts's table (which does not list them). */
export const ANSIBLE_TOOLS: Readonly<Record<string, ToolInfo>> = {
  'ansible-playbook': { debian: 'ansible-core', fedora: 'ansible-core', alpine: 'ansible-core', min: '2.14.0' },
  chroot: { debian: 'coreutils', fedora: 'coreutils', alpine: 'coreutils' },
};

/** Where the connection plugin comes from, besides ansible-core. */
const PLUGIN_PACKAGES = 'ansible (Debian/Ubuntu, Alpine), ansible-collection-community-general (Fedora)';

/**
 * What Ansible's modules import on the target (AnsiballZ's wrapper and module_utils.basic).
 * python3-minimal alone has python3 but not json or shutil (Debian's libpython3.N-stdlib).
 */
const MODULE_IMPORTS = 'import json, shutil, zipfile, tempfile, base64, subprocess, selectors';

/** Guest paths Ansible keeps under root's home when told nothing else: removed after if the run made them. */
const HOME_LEFTOVERS = ['/root/.ansible', '/root/.ansible_async'] as const;

/** Run `o.playbooks` against `o.tree`, changing it in place. In dry-run, print the command and change nothing. */
export async function runPlaybooks(ctx: BuildContext, o: AnsibleOptions): Promise<void> {
  await checkAnsibleOptions(o);
  const given = resolve(o.tree);
  const what = `${o.playbooks.length === 1 ? 'playbook' : `${o.playbooks.length} playbooks`} on ${given}${o.groups.length ? ` as a member of ${o.groups.join(', ')}` : ''}`;
  if (ctx.dryRun && !existsSync(given)) {
    // The tree is built earlier in the same plan.
    const f = runFiles(join(tmpdir(), 'osb-ansible-XXXXXX'));
    ctx.log.info(`would run the ansible ${what} once it is built`);
    await ctx.run(playbookArgv(o, f), { env: ansibleEnv(f, '/usr/bin/python3') });
    return;
  }
  const tree = await checkTree(given);
  if (!ctx.dryRun) {
    if (!isRoot()) throw new OsbError('running Ansible playbooks on a tree needs root (the chroot connection runs chroot)', 'run osb as root, e.g. with sudo');
    for (const tool of ansibleHostTools()) assertTool(tool);
  }
  const python = findPython(tree);
  if (python === undefined) {
    throw new OsbError(
      `the tree ${tree} has no python3 (/usr/bin/python3 or /usr/bin/python3.N), which Ansible's modules run on inside the tree`,
      'install python3 in the tree before the ansible layer (add python3 to the packages of the rootfs, or of the parent)',
    );
  }
  const chrootExe = which('chroot') ?? 'chroot';
  if (ctx.dryRun) {
    const f = runFiles(join(tmpdir(), 'osb-ansible-XXXXXX'));
    ctx.log.info(`would run the ansible ${what} (host ${HOST_NAME}, python ${python})`);
    await ctx.run(playbookArgv(o, f), { env: ansibleEnv(f, python) });
    return;
  }

  // The probe runs while ansible-playbook starts (its own start takes longer); its verdict comes first.
  const probe = probePython(ctx, tree, python, chrootExe);
  probe.catch(() => undefined); // awaited below, or with the checks before the playbook
  const treeTemp = entryInTree(tree, TREE_TEMP);
  const homeLeftovers = HOME_LEFTOVERS.map((p) => entryInTree(tree, p)).filter((p) => p !== undefined && !entryExists(p));
  const dir = await mkdtemp(join(tmpdir(), 'osb-ansible-'));
  const cleanup = async () => {
    await removeEntry(treeTemp);
    for (const p of homeLeftovers) await removeEntry(p);
    await rm(dir, { recursive: true, force: true });
  };
  await withCleanup(cleanup, async () => {
    await removeEntry(treeTemp); // what a killed run left
    const f = runFiles(dir);
    await writeRunFiles(f, o, tree, chrootExe);
    const argv = playbookArgv(o, f);
    ctx.log.info(`ansible: running the ${what}`);
    const reader = new FailureReader();
    const stop = new AbortController();
    const playbook = run(ctx, argv, { env: ansibleEnv(f, python), cwd: dir, allowFail: true, onLine: (l) => reader.line(l), cancel: stop.signal });
    playbook.catch(() => undefined);
    try {
      await probe;
    } catch (e) {
      stop.abort();
      await playbook.catch(() => undefined);
      throw e;
    }
    const r = await playbook;
    if (r.exitCode !== 0) throw playbookFailed(ctx, r, reader.result());
  });
  ctx.log.info(`ansible: the ${what} ran`);
}

async function writeRunFiles(f: RunFiles, o: AnsibleOptions, tree: string, chrootExe: string): Promise<void> {
  await mkdir(f.home, { mode: 0o700 });
  await mkdir(f.localTemp, { mode: 0o700 });
  await writeFile(f.config, '# Written by osb: no ansible.cfg of the cwd, the home or /etc/ansible is read; the settings are in the environment.\n');
  await writeFile(f.inventory, extraInventory(o.groups));
  if (o.vars !== undefined) await writeFile(f.userVars, JSON.stringify(o.vars, null, 2) + '\n', { mode: 0o600 });
  await writeFile(f.osbVars, JSON.stringify(osbVars(tree, chrootExe), null, 2) + '\n');
}

/** The tree's python must run and import what the modules import: one clear line now, not a MODULE FAILURE at the first task. */
async function probePython(ctx: BuildContext, tree: string, python: string, chrootExe: string): Promise<void> {
  const r = await run(ctx, [chrootExe, tree, python, '-I', '-c', MODULE_IMPORTS], { allowFail: true, quiet: true });
  if (r.exitCode === 0) return;
  const why = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `exit code ${r.exitCode}`;
  const minimal = /No module named/.test(why);
  throw new OsbError(
    `the tree's ${python} can not run Ansible's modules: ${why}`,
    minimal ? 'install the whole python3 in the tree, not only python3-minimal (Ansible needs json and shutil)' : "fix the tree's python3 (can it run on this host? a foreign-arch tree needs qemu-user through binfmt_misc)",
  );
}

function playbookFailed(ctx: BuildContext, r: RunResult, f: PlaybookFailure | undefined): OsbError {
  const log = ctx.run.logPath ? `full output in ${ctx.run.logPath}` : 'run again with a higher verbosity for more';
  // Without Debian's `ansible` package the first task fails with this (a task's failure, not an ERROR!).
  const noPlugin = f !== undefined && /connection plugin '?community\.general\.chroot'? was not found/.test(f.reason);
  const hint = noPlugin ? `install the chroot connection plugin: package ${PLUGIN_PACKAGES}; ${log}` : log;
  const task = f?.task ? `"${f.task}"` : '(unnamed)';
  if (f?.kind === 'failed') return new OsbError(`ansible task ${task} failed: ${f.reason}`, hint);
  if (f?.kind === 'unreachable') return new OsbError(`ansible could not run task ${task} in the tree: ${f.reason}`, hint);
  if (f?.kind === 'error') return new OsbError(`ansible-playbook stopped before running a task: ${f.reason}`, hint);
  return new OsbError(`ansible-playbook exited with code ${r.exitCode}`, log);
}

/** ctx.run, where an interrupt is an interrupt. */
async function run(ctx: BuildContext, argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  try {
    const r = await ctx.run(argv, opts);
    if (ctx.signal?.aborted) throw new InterruptedError();
    return r;
  } catch (e) {
    if (ctx.signal?.aborted) throw new InterruptedError();
    throw e;
  }
}

/** The tree's real path (the chroot's root), checked: a directory, and not the host's own /. */
async function checkTree(tree: string): Promise<string> {
  let st;
  let real: string;
  try {
    st = await stat(tree);
    real = await realpath(tree);
  } catch {
    throw new OsbError(`the tree for the ansible layer, ${tree}, does not exist`, 'build the rootfs first, or give the path of a root filesystem directory');
  }
  if (!st.isDirectory()) throw new OsbError(`the tree for the ansible layer, ${tree}, is not a directory`, 'give the path of a root filesystem directory (unpack an image or archive first)');
  // The path is the host's ansible_host, which Ansible templates.
  if (/[{][{%#]/.test(real)) throw new OsbError(`the tree for the ansible layer, ${real}, has {{, {% or {# in its path, which Ansible would read as a template`, 'move the tree to a plain path');
  if (real === '/') throw new OsbError(`the tree for the ansible layer, ${tree}, is the host's /`, 'give the path of a root filesystem directory');
  return real;
}

/** A missing ansible-playbook or chroot, in lib/tools.ts's words. */
function assertTool(tool: string): void {
  if (which(tool) !== undefined) return;
  const info = ANSIBLE_TOOLS[tool]!;
  throw new OsbError(
    `${tool} not found; it is in package ${info.debian} (Debian/Ubuntu), ${info.fedora} (Fedora), ${info.alpine} (Alpine)`,
    tool === 'ansible-playbook' ? `apt-get install ansible-core ansible (the chroot connection is in ${PLUGIN_PACKAGES})` : 'apt-get install coreutils',
  );
}
