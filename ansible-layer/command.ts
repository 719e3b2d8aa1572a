/**
 * The ansible-playbook command line, its environment and the two files osb writes for it: the
 * inventory that makes the tree a member of the groups, and the variables that tie every task to
 * the tree. Pure functions of their inputs.
 */
import { join, resolve } from 'node:path';
import { HOST_NAME, type AnsibleOptions } from './options.js';

/** The connection plugin (Debian's `ansible` package has the community.general collection). */
export const CONNECTION = 'community.general.chroot';
/**
 * Ansible's temporary files inside the tree (guest path): a directory at the tree's root, which
 * always exists, made by Ansible and removed by osb after the run (and before it, if a killed
 * run left it). Not under /tmp: were the tree's /tmp missing, `mkdir -p` under umask 77 would
 * leave a 0700 /tmp in the image.
 */
export const TREE_TEMP = '/.osb-ansible';

/** The files osb writes for one run, in a host temporary directory. */
export interface RunFiles {
  readonly dir: string;
  /** An empty ansible.cfg (ANSIBLE_CONFIG): no ansible.cfg of the cwd, the home or /etc/ansible is read. */
  readonly config: string;
  /** The inventory with the tree as a member of each group. */
  readonly inventory: string;
  /** The user's vars, as JSON. */
  readonly userVars: string;
  /** osb's own connection variables, as JSON. */
  readonly osbVars: string;
  /** ANSIBLE_HOME: collections, roles and caches Ansible would keep in ~/.ansible. */
  readonly home: string;
  /** ANSIBLE_LOCAL_TEMP: the controller's temporary files. */
  readonly localTemp: string;
}

export function runFiles(dir: string): RunFiles {
  return {
    dir,
    config: join(dir, 'ansible.cfg'),
    inventory: join(dir, 'osb-image.yml'),
    userVars: join(dir, 'vars.json'),
    osbVars: join(dir, 'osb-vars.json'),
    home: join(dir, 'home'),
    localTemp: join(dir, 'local-tmp'),
  };
}

/**
 * The inventory osb adds (YAML, written as JSON, which YAML reads): the tree's host in each
 * group. Nothing else: the groups' variables come from the user's inventories, whose group_vars/
 * and host_vars/ apply to this host as to any other.
 */
export function extraInventory(groups: readonly string[]): string {
  const named = [...new Set(groups)].filter((g) => g !== 'all').sort();
  const host = { [HOST_NAME]: {} };
  const inv = named.length === 0 ? { all: { hosts: host } } : { all: { children: Object.fromEntries(named.map((g) => [g, { hosts: host }])) } };
  return JSON.stringify(inv, null, 2) + '\n';
}

/**
 * The variables that send every task into the tree. Given last with -e, they win over the
 * inventories (group_vars that say `ansible_connection: local` or `ansible_host: /`), over a
 * play's `connection:` and over the user's own vars; extra vars reach delegated tasks too, so
 * `delegate_to: localhost` and `local_action` also run in the tree.
 */
export function osbVars(tree: string, chrootExe: string): Record<string, string> {
  return {
    ansible_connection: CONNECTION,
    ansible_host: tree,
    ansible_chroot_exe: chrootExe,
    ansible_remote_tmp: TREE_TEMP,
    ansible_async_dir: `${TREE_TEMP}/async`,
  };
}

/**
 * ansible-playbook's environment (added to lib/run.ts's allow-list, which drops any ANSIBLE_*
 * of the caller). Everything Ansible would read from or write to the home, the cwd or
 * /etc/ansible is pointed at the run's directory. The chroot connection passes this environment
 * on to every command it runs in the tree, so HOME is root's home there (the connection runs as
 * root) and TMPDIR a directory both the host and the tree have.
 */
export function ansibleEnv(f: RunFiles, python: string): Record<string, string> {
  return {
    HOME: '/root',
    TMPDIR: '/tmp',
    ANSIBLE_CONFIG: f.config,
    ANSIBLE_HOME: f.home,
    ANSIBLE_LOCAL_TEMP: f.localTemp,
    ANSIBLE_RETRY_FILES_ENABLED: 'False',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_STDOUT_CALLBACK: 'default',
    ANSIBLE_LOAD_CALLBACK_PLUGINS: 'False',
    // The module goes to the tree's python on stdin: fewer commands, fewer files in the tree.
    ANSIBLE_PIPELINING: 'True',
    // A default an inventory may override (it names a path inside the tree).
    ANSIBLE_PYTHON_INTERPRETER: python,
    // The host's ~/.local packages are not imported by ansible-playbook.
    PYTHONNOUSERSITE: '1',
  };
}

/** `ansible-playbook -i INV... -i EXTRA -c community.general.chroot --limit osb-image [-e @USER] -e @OSB [-v...] PLAYBOOK...` */
export function playbookArgv(o: AnsibleOptions, f: RunFiles): string[] {
  const v = o.verbosity ?? 0;
  return [
    'ansible-playbook',
    ...o.inventory.flatMap((i) => ['-i', resolve(i)]),
    '-i', f.inventory,
    '-c', CONNECTION,
    '--limit', HOST_NAME,
    ...(o.vars !== undefined ? ['-e', `@${f.userVars}`] : []),
    '-e', `@${f.osbVars}`,
    ...(v > 0 ? [`-${'v'.repeat(v)}`] : []),
    ...o.playbooks.map((p) => resolve(p)),
  ];
}
