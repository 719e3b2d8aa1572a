/** The options of runPlaybooks and their checks, which read the host paths and build nothing. */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../lib/errors.js';

export interface AnsibleOptions {
  /** The unpacked root filesystem, changed in place. */
  readonly tree: string;
  /** Playbooks (host paths), run in this order by one ansible-playbook. */
  readonly playbooks: readonly string[];
  /** Inventories (host paths: files or directories with group_vars/, host_vars/); may be empty. */
  readonly inventory: readonly string[];
  /** The groups the tree is made a member of (image-build's `groups`). */
  readonly groups: readonly string[];
  /** Extra variables (image-build's `vars`), passed with -e: they win over every other variable. */
  readonly vars?: Readonly<Record<string, unknown>>;
  /** How many -v ansible-playbook is given, 0 to 4. @default 0 */
  readonly verbosity?: number;
}

/** The inventory name of the tree (its path is the connection's ansible_host). */
export const HOST_NAME = 'osb-image';
export const MAX_VERBOSITY = 4;

/**
 * Variables osb sets itself, last on the command line, so that no inventory, play or variable
 * points the connection anywhere but at the tree: where it runs (connection, host, the chroot
 * binary) and where it keeps its temporary files (removed after the run).
 */
export const RESERVED_VARS = ['ansible_connection', 'ansible_host', 'ansible_chroot_exe', 'ansible_remote_tmp', 'ansible_async_dir'] as const;

/** A group name Ansible takes as it is (no "invalid characters" warning, no renaming). */
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A variable name Ansible accepts in extra vars. */
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Check `o` without building anything: every playbook is a readable file, every inventory a
 * readable file or directory, the group and variable names are ones Ansible takes as they are,
 * the variables can be written as JSON, and the verbosity is 0 to 4. The tree is not looked at
 * (it may be built later in the same plan).
 */
export async function checkAnsibleOptions(o: AnsibleOptions): Promise<void> {
  if (o.playbooks.length === 0) throw new UsageError('the ansible layer has no playbook', 'give at least one playbook');
  for (const p of o.playbooks) await checkPath(p, 'playbook', 'file');
  for (const p of o.inventory) await checkPath(p, 'inventory', 'file or directory');
  const v = o.verbosity ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > MAX_VERBOSITY) {
    throw new UsageError(`ansible verbosity ${String(v)} is not 0 to ${MAX_VERBOSITY}`, 'give 0 (the default) to 4: it is the number of -v given to ansible-playbook');
  }
  for (const g of o.groups) {
    if (g === 'ungrouped') throw new UsageError("ansible group 'ungrouped' can not be given", 'it is the group of hosts in no other group; name the groups the image belongs to');
    if (!GROUP_NAME.test(g)) {
      throw new UsageError(`ansible group name ${JSON.stringify(g)} is not a plain name`, 'use letters, digits and underscores, not starting with a digit (Ansible renames or warns about others), e.g. compute');
    }
  }
  checkVars(o.vars);
}

function checkVars(vars: AnsibleOptions['vars']): void {
  if (vars === undefined) return;
  if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) {
    throw new UsageError('ansible vars must be a mapping of names to values', 'e.g. vars: { chrony_server: ntp.example }');
  }
  for (const k of Object.keys(vars)) {
    if (!VAR_NAME.test(k)) throw new UsageError(`ansible variable name ${JSON.stringify(k)} is not a valid name`, 'use letters, digits and underscores, not starting with a digit');
    if ((RESERVED_VARS as readonly string[]).includes(k)) {
      throw new UsageError(`ansible variable ${k} is set by osb`, 'osb runs every task inside the tree with the chroot connection and keeps its temporary files there; leave it out');
    }
  }
  try {
    JSON.stringify(vars, (_k, val: unknown) => {
      if (typeof val === 'bigint' || typeof val === 'function' || typeof val === 'symbol' || val === undefined) throw new Error(typeof val);
      if (typeof val === 'number' && !Number.isFinite(val)) throw new Error(String(val));
      return val;
    });
  } catch (e) {
    throw new UsageError(`ansible vars can not be passed to Ansible: a value is ${(e as Error).message}`, 'give strings, numbers, booleans, null, lists and mappings');
  }
}

async function checkPath(path: string, what: string, kind: 'file' | 'file or directory'): Promise<void> {
  const p = resolve(path);
  let st;
  try {
    st = await stat(p);
  } catch {
    throw new UsageError(`ansible ${what} ${p} does not exist`, `give the path of the ${what} ${kind === 'file' ? 'file' : '(a file or a directory)'}`);
  }
  if (kind === 'file' ? !st.isFile() : !st.isFile() && !st.isDirectory()) throw new UsageError(`ansible ${what} ${p} is not a ${kind}`, `give the path of the ${what} ${kind}`);
  try {
    await access(p, constants.R_OK | (st.isDirectory() ? constants.X_OK : 0));
  } catch {
    throw new UsageError(`ansible ${what} ${p} is not readable`, 'fix its permissions');
  }
}
