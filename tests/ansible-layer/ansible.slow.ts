/**
 * The ansible layer on a real Debian bookworm tree (minbase, python3, systemd), with Debian's
 * ansible-core and the community.general.chroot connection, in the shape of image-build's own
 * example: an inventory directory whose group_vars/compute/chrony.yaml a role's template reads, a
 * user, a systemd unit enabled. The oracle is the tree itself (its /etc/passwd, the unit's
 * symlink) and the host, which must not change.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlaybooks, type AnsibleOptions } from '../../ansible-layer/index.js';
import { OsbError } from '../../lib/errors.js';
import { makeTestContext, recordingReporter, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { isRoot, REPO_ROOT } from '../helpers/fixture-rootfs.js';
import { pythonTree } from '../../bench/python-tree.js';

const FIX = join(REPO_ROOT, 'tests/fixtures/ansible');
/** A Debian minbase tree with python3 and systemd, built once under TEST_CACHE. */
const ansibleTree = pythonTree;

/** What the host holds that a layer acting on it would change. */
function hostState() {
  const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : null);
  return {
    users: readFileSync('/etc/passwd', 'utf8').split('\n').filter((l) => l.startsWith('osbtest:')),
    etcMarkers: readdirSync('/etc').filter((n) => n.startsWith('osb-')),
    chrony: read('/etc/chrony/chrony.conf'),
    unit: existsSync('/etc/systemd/system/osb-node-hello.service'),
    wants: existsSync('/etc/systemd/system/multi-user.target.wants/osb-node-hello.service'),
    elsewhere: existsSync('/var/tmp/osb-test-elsewhere'),
    homeAnsible: existsSync(join(homedir(), '.ansible')),
    rootAnsible: existsSync('/root/.ansible'),
    temps: readdirSync(tmpdir()).filter((n) => n.startsWith('osb-ansible-')),
  };
}

const names = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
/** Whether ansible-playbook got as far as a task (the probe stops it before one). */
const taskRan = (wd: string) => existsSync(join(wd, 'logs/ansible.log')) && /TASK \[/.test(readFileSync(join(wd, 'logs/ansible.log'), 'utf8'));
const ansibleRan = (wd: string) => existsSync(join(wd, 'logs/ansible.log')) && /^\+ ansible-playbook /m.test(readFileSync(join(wd, 'logs/ansible.log'), 'utf8'));

(isRoot ? describe : describe.skip)('ansible layer on a Debian tree', () => {
  let base: string;
  let before: ReturnType<typeof hostState>;
  beforeAll(() => {
    base = ansibleTree();
  }, 900_000);
  beforeEach(() => {
    before = hostState();
  });
  afterAll(removeTempDirs);

  /** A copy of the cached tree, and a workdir. */
  function fresh(): { tree: string; wd: string } {
    const d = tempDir('osb-anstest-');
    execFileSync('cp', ['-a', '--reflink=auto', base, join(d, 'tree')]);
    mkdirSync(join(d, 'wd'));
    return { tree: join(d, 'tree'), wd: join(d, 'wd') };
  }

  /** Ansible left nothing of its own in the tree, and the host is as it was. */
  function expectClean(tree: string): void {
    expect(names(tree)).toEqual(names(base));
    expect(names(join(tree, 'tmp'))).toEqual(names(join(base, 'tmp')));
    expect(names(join(tree, 'root'))).toEqual(names(join(base, 'root')));
    expect(existsSync(join(tree, 'var/tmp/osb-test-elsewhere'))).toBe(false);
    expect(hostState()).toEqual(before);
  }

  const site = (tree: string, more: Partial<AnsibleOptions> = {}): AnsibleOptions => ({
    tree, playbooks: [join(FIX, 'playbook.yaml')], inventory: [join(FIX, 'inventory')], groups: ['compute'], ...more,
  });

  test('the role templates from a group var, adds a user, enables a unit: in the tree only, and nothing of Ansible is left', async () => {
    const { tree, wd } = fresh();
    await runPlaybooks(makeTestContext(wd, 'ansible'), site(tree, { verbosity: 1 }));
    expect(readFileSync(join(tree, 'etc/chrony/chrony.conf'), 'utf8')).toMatch(/^server ntp\.compute\.example iburst$/m);
    expect(readFileSync(join(tree, 'etc/passwd'), 'utf8')).toMatch(/^osbtest:x:2345:2345::\/home\/osbtest:\/bin\/bash$/m);
    expect(readFileSync(join(tree, 'etc/shadow'), 'utf8')).toMatch(/^osbtest:/m);
    expect(lstatSync(join(tree, 'home/osbtest')).isDirectory()).toBe(true);
    const wants = join(tree, 'etc/systemd/system/multi-user.target.wants/osb-node-hello.service');
    expect(readlinkSync(wants)).toBe('/etc/systemd/system/osb-node-hello.service');
    // node01 and node02 of the same group were not contacted: the run is limited to the tree.
    const log = readFileSync(join(wd, 'logs/ansible.log'), 'utf8');
    expect(log).toMatch(/^TASK \[compute_node : Write the chrony configuration\]/m);
    expect(log).not.toMatch(/node0[12]/);
    expect(log).toMatch(/osb-image\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0/);
    expectClean(tree);
  }, 180_000);

  test('vars win over the inventory\'s group var', async () => {
    const { tree, wd } = fresh();
    await runPlaybooks(makeTestContext(wd, 'ansible'), site(tree, { vars: { chrony_server: 'ntp.override.example', chrony_pool_iburst: false }, verbosity: 2 }));
    expect(readFileSync(join(tree, 'etc/chrony/chrony.conf'), 'utf8')).toMatch(/^server ntp\.override\.example$/m);
    expectClean(tree);
  }, 180_000);

  test('a host path, an inventory that points at the host, a local play, delegation and local_action all land in the tree', async () => {
    const { tree, wd } = fresh();
    await runPlaybooks(makeTestContext(wd, 'ansible'), {
      tree, playbooks: [join(FIX, 'marker.yaml'), join(FIX, 'hostile.yaml')], inventory: [join(FIX, 'inventory'), join(FIX, 'hostile-inventory')], groups: ['compute'],
    });
    expect(readFileSync(join(tree, 'etc/osb-test-marker'), 'utf8')).toBe('written by the ansible layer test\n');
    for (const m of ['osb-test-marker-climb', 'osb-test-marker-delegated', 'osb-test-marker-local']) expect(existsSync(join(tree, 'etc', m))).toBe(true);
    expectClean(tree);
  }, 180_000);

  test('a failing task is named in one line, with the log in the hint; the tree keeps no temporaries', async () => {
    const { tree, wd } = fresh();
    const err = await runPlaybooks(makeTestContext(wd, 'ansible'), { ...site(tree), playbooks: [join(FIX, 'fail.yaml')], verbosity: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OsbError);
    expect((err as OsbError).message).toBe('ansible task "Break on purpose" failed: non-zero return code (rc 1)');
    expect((err as OsbError).hint).toBe(`full output in ${join(wd, 'logs/ansible.log')}`);
    expect(existsSync(join(tree, 'etc/osb-never-reached'))).toBe(false);
    expectClean(tree);
  }, 180_000);

  test('a tree without python3, or with python3-minimal\'s python only, is refused before any task runs', async () => {
    const d = tempDir('osb-anstest-');
    const bare = join(d, 'bare');
    mkdirSync(join(bare, 'etc'), { recursive: true });
    mkdirSync(join(bare, 'usr/bin'), { recursive: true });
    writeFileSync(join(bare, 'etc/os-release'), 'ID=debian\n');
    const wd1 = join(d, 'wd1');
    await expect(runPlaybooks(makeTestContext(wd1, 'ansible'), site(bare))).rejects.toThrow(
      new OsbError(`the tree ${bare} has no python3 (/usr/bin/python3 or /usr/bin/python3.N), which Ansible's modules run on inside the tree`),
    );
    expect(ansibleRan(wd1)).toBe(false);
    expect(names(bare)).toEqual(['etc', 'usr']);

    // python3.11 without libpython3.11-stdlib's json: the probe says so.
    const { tree, wd } = fresh();
    renameSync(join(tree, 'usr/lib/python3.11/json'), join(d, 'json'));
    const err = await runPlaybooks(makeTestContext(wd, 'ansible'), site(tree)).then(() => undefined, (e: unknown) => e);
    expect((err as OsbError).message).toBe("the tree's /usr/bin/python3 can not run Ansible's modules: ModuleNotFoundError: No module named 'json'");
    expect((err as OsbError).hint).toMatch(/not only python3-minimal/);
    expect(taskRan(wd)).toBe(false);
    expect(existsSync(join(tree, 'etc/chrony'))).toBe(false);
    expect(hostState()).toEqual(before);
  }, 180_000);

  test('--dry-run prints the command and changes nothing', async () => {
    const d = tempDir('osb-anstest-');
    const tree = join(d, 'tree');
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    writeFileSync(join(tree, 'usr/bin/python3.12'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(tree, 'usr/bin/python3.12'), 0o755);
    const rep = recordingReporter();
    await runPlaybooks(makeTestContext(join(d, 'wd'), 'ansible', { dryRun: true, reporter: rep }), site(tree, { vars: { a: 1 }, verbosity: 2 }));
    const cmd = rep.lines.find((l) => l.startsWith('would run: ansible-playbook '));
    expect(cmd).toBe(
      `would run: ansible-playbook -i ${join(FIX, 'inventory')} -i ${join(tmpdir(), 'osb-ansible-XXXXXX/osb-image.yml')} -c community.general.chroot --limit osb-image ` +
        `-e @${join(tmpdir(), 'osb-ansible-XXXXXX/vars.json')} -e @${join(tmpdir(), 'osb-ansible-XXXXXX/osb-vars.json')} -vv ${join(FIX, 'playbook.yaml')}`,
    );
    expect(rep.lines.join('\n')).toMatch(/python \/usr\/bin\/python3\.12/);
    expect(names(tree)).toEqual(['usr']);
    expect(names(d)).toEqual(['tree']);
    expect(hostState()).toEqual(before);
    // A tree built earlier in the same plan: not there yet, the command is still shown.
    const later = recordingReporter();
    await runPlaybooks(makeTestContext(join(d, 'wd'), 'ansible', { dryRun: true, reporter: later }), site(join(d, 'not-yet')));
    expect(later.lines.some((l) => l.startsWith('would run: ansible-playbook '))).toBe(true);
  }, 60_000);
});
