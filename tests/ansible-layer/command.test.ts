/** The ansible layer's pure parts: its command line, the files it writes, its checks, and its reading of a failure. */
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ansibleEnv, checkAnsibleOptions, extraInventory, FailureReader, osbVars, playbookArgv, runFiles, type AnsibleOptions } from '../../ansible-layer/index.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';

afterAll(removeTempDirs);

const files = runFiles('/tmp/osb-ansible-x');

describe('the command line', () => {
  test('the user inventories, then osb\'s, the chroot connection, the tree\'s host only, the vars, the verbosity, the playbooks', () => {
    const o: AnsibleOptions = { tree: '/t', playbooks: ['/p/a.yaml', '/p/b.yaml'], inventory: ['/inv', '/more/hosts'], groups: ['compute'], vars: { x: 1 }, verbosity: 3 };
    expect(playbookArgv(o, files)).toEqual([
      'ansible-playbook', '-i', '/inv', '-i', '/more/hosts', '-i', '/tmp/osb-ansible-x/osb-image.yml',
      '-c', 'community.general.chroot', '--limit', 'osb-image',
      '-e', '@/tmp/osb-ansible-x/vars.json', '-e', '@/tmp/osb-ansible-x/osb-vars.json', '-vvv', '/p/a.yaml', '/p/b.yaml',
    ]);
    expect(playbookArgv({ ...o, vars: undefined, verbosity: 0, inventory: [] }, files)).toEqual([
      'ansible-playbook', '-i', '/tmp/osb-ansible-x/osb-image.yml', '-c', 'community.general.chroot', '--limit', 'osb-image', '-e', '@/tmp/osb-ansible-x/osb-vars.json', '/p/a.yaml', '/p/b.yaml',
    ]);
  });

  test('the inventory puts the host in each group once; all is implicit', () => {
    expect(JSON.parse(extraInventory(['compute', 'all', 'gpu', 'compute']))).toEqual({ all: { children: { compute: { hosts: { 'osb-image': {} } }, gpu: { hosts: { 'osb-image': {} } } } } });
    expect(JSON.parse(extraInventory([]))).toEqual({ all: { hosts: { 'osb-image': {} } } });
  });

  test('the connection variables name the tree, and the environment keeps Ansible out of the home and the cwd', () => {
    expect(osbVars('/w/tree', '/usr/sbin/chroot')).toEqual({
      ansible_connection: 'community.general.chroot', ansible_host: '/w/tree', ansible_chroot_exe: '/usr/sbin/chroot', ansible_remote_tmp: '/.osb-ansible', ansible_async_dir: '/.osb-ansible/async',
    });
    const env = ansibleEnv(files, '/usr/bin/python3');
    expect(env).toMatchObject({ ANSIBLE_CONFIG: '/tmp/osb-ansible-x/ansible.cfg', ANSIBLE_HOME: '/tmp/osb-ansible-x/home', ANSIBLE_LOCAL_TEMP: '/tmp/osb-ansible-x/local-tmp', ANSIBLE_RETRY_FILES_ENABLED: 'False', ANSIBLE_NOCOLOR: '1', HOME: '/root' });
    expect(env).not.toHaveProperty('ANSIBLE_FORCE_COLOR');
  });
});

describe('checkAnsibleOptions', () => {
  const dir = tempDir('osb-ansible-opts-');
  const pb = join(dir, 'site.yaml');
  writeFileSync(pb, '- hosts: all\n  tasks: []\n');
  mkdirSync(join(dir, 'inventory'));
  const ok: AnsibleOptions = { tree: '/nonexistent-tree', playbooks: [pb], inventory: [join(dir, 'inventory')], groups: ['compute', 'all'], vars: { a: 'b', n: [1, { c: null }] }, verbosity: 4 };

  test('good options pass, and the tree is not looked at', async () => {
    await expect(checkAnsibleOptions(ok)).resolves.toBeUndefined();
  });

  const refusals: Array<[Partial<AnsibleOptions>, RegExp]> = [
    [{ playbooks: [] }, /has no playbook/],
    [{ playbooks: [join(dir, 'missing.yaml')] }, /playbook .*missing\.yaml does not exist/],
    [{ playbooks: [dir] }, /playbook .* is not a file/],
    [{ inventory: [join(dir, 'nope')] }, /inventory .*nope does not exist/],
    [{ verbosity: 5 }, /verbosity 5 is not 0 to 4/],
    [{ verbosity: 1.5 }, /verbosity 1.5 is not 0 to 4/],
    [{ groups: ['compute-nodes'] }, /group name "compute-nodes" is not a plain name/],
    [{ groups: ['all:children'] }, /is not a plain name/],
    [{ groups: ['ungrouped'] }, /'ungrouped' can not be given/],
    [{ vars: { ansible_host: '/' } }, /ansible_host is set by osb/],
    [{ vars: { ansible_connection: 'local' } }, /ansible_connection is set by osb/],
    [{ vars: { 'a-b': 1 } }, /variable name "a-b" is not a valid name/],
    [{ vars: { a: 10n } as never }, /a value is bigint/],
    [{ vars: { a: Number.NaN } }, /a value is NaN/],
    [{ vars: ['x'] as never }, /must be a mapping/],
  ];
  test.each(refusals.map(([bad, why]) => [why.source, bad, why] as const))('refused: %s', async (_name, bad, why) => {
    await expect(checkAnsibleOptions({ ...ok, ...bad })).rejects.toThrow(why);
  });
});

describe('which task failed', () => {
  const read = (text: string) => {
    const r = new FailureReader();
    for (const l of text.split('\n')) r.line(l);
    return r.result();
  };

  test('the fatal line of a task (-v)', () => {
    expect(read(`
TASK [Fine so far] *************************************************************
ok: [osb-image] => {"changed": false, "rc": 0}

TASK [compute_node : Break on purpose] ********************************************************
fatal: [osb-image]: FAILED! => {"changed": true, "cmd": ["/bin/false"], "msg": "non-zero return code", "rc": 1, "stderr": "", "stdout": ""}

PLAY RECAP *********************************************************************
osb-image                  : ok=1    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0`)).toEqual({ task: 'compute_node : Break on purpose', kind: 'failed', reason: 'non-zero return code (rc 1)' });
  });

  test('a result over many lines (-vvv), a stderr, an ignored failure before it', () => {
    expect(read(`TASK [Ignored one] ****
fatal: [osb-image]: FAILED! => {"msg": "ignore me", "rc": 1}
...ignoring

TASK [Install it] ****
task path: /p/site.yaml:8
fatal: [osb-image]: FAILED! => {
    "changed": true,
    "msg": "non-zero return code",
    "rc": 100,
    "stderr": "E: Unable to locate package nosuch\\n"
}

PLAY RECAP ****`)).toEqual({ task: 'Install it', kind: 'failed', reason: 'non-zero return code (rc 100: E: Unable to locate package nosuch)' });
    expect(read('TASK [Only ignored] ****\nfatal: [osb-image]: FAILED! => {"msg": "x"}\n...ignoring\n')).toBeUndefined();
  });

  test('a loop\'s failed item (there is no fatal line), a module failure, an unreachable tree, an error before any task', () => {
    expect(read(`TASK [Loop failure] ****
changed: [osb-image] => (item=0)
failed: [osb-image] (item=3) => {"item": 3, "msg": "non-zero return code", "rc": 3, "stderr": "oops-3"}
failed: [osb-image] (item=4) => {"item": 4, "msg": "non-zero return code", "rc": 4, "stderr": "oops-4"}
PLAY RECAP ****`)).toEqual({ task: 'Loop failure', kind: 'failed', reason: 'item=3: non-zero return code (rc 3: oops-3)' });
    expect(read(`TASK [Gathering Facts] ****
fatal: [osb-image]: FAILED! => {"ansible_facts": {}, "changed": false, "failed_modules": {}, "module_stderr": "Traceback (most recent call last):\\n  File x\\nModuleNotFoundError: No module named 'json'\\n", "module_stdout": "", "msg": "MODULE FAILURE\\nSee stdout/stderr for the exact error", "rc": 1}`))
      .toEqual({ task: 'Gathering Facts', kind: 'failed', reason: "MODULE FAILURE (rc 1: ModuleNotFoundError: No module named 'json')" });
    expect(read('TASK [x] ****\nfatal: [osb-image]: UNREACHABLE! => {"changed": false, "msg": "/t does not look like a chrootable dir (/bin/sh missing)", "unreachable": true}'))
      .toEqual({ task: 'x', kind: 'unreachable', reason: '/t does not look like a chrootable dir (/bin/sh missing)' });
    expect(read("ERROR! the role 'no_such_role' was not found in /p/roles:/usr/share/ansible/roles\n\nThe error appears to be in '/p/bad.yaml': line 3"))
      .toEqual({ task: undefined, kind: 'error', reason: "the role 'no_such_role' was not found in /p/roles:/usr/share/ansible/roles" });
  });
});
