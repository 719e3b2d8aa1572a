/**
 * image-build's Ansible layer (examples/ansible/compute-ansible.yaml) with `osb build`: the parent
 * is a base image in the local container store (what `publish_local` leaves there, here a
 * Debian tree with python3, since Ansible's modules run with the parent's python), the playbook
 * runs with the chroot connection, and the pushed image is the parent's layers plus one. The
 * oracles: skopeo for the layers, umoci to unpack the pushed image and read the playbook's
 * changes, podman for the parent in its store.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pythonTree } from '../../bench/python-tree.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';
import { makeRegistry, type Registry } from '../publish/servers.js';

let registry: Registry;
let project: string;
const PARENT = 'localhost/osb-ib-alma-base:v0.0.1';
const FIXTURES = join(REPO_ROOT, 'tests/fixtures/ansible');

beforeAll(async () => {
  registry = await makeRegistry(tempDir('osb-ib-ansible-registry-'), 'plain');
  project = tempDir('osb-ib-ansible-');
  cpSync(FIXTURES, project, { recursive: true });
  // The base layer, published into the local store as image-build's base.yaml does (publish_local).
  const wd = tempDir('osb-ib-ansible-base-');
  const o = osb(['oci', '--no-deps', '--rootfs-dir', pythonTree(), '--workdir', wd, '--oci-ref', PARENT], { env: cleanEnv() });
  if (o.code !== 0) throw new Error(o.stderr);
  const r = osb(['publish', '--no-deps', '--rootfs-dir', pythonTree(), '--workdir', wd, '--oci-ref', PARENT, '--publish-local'], { env: cleanEnv() });
  if (r.code !== 0) throw new Error(r.stderr);
}, 900_000);

afterAll(async () => {
  execFileSync('podman', ['rmi', '--force', PARENT], { stdio: 'ignore' });
  await registry?.stop();
  removeTempDirs();
});

const config = (extra = '') => `options:
  layer_type: 'ansible'
  name: 'compute-ansible'
  parent: 'osb-ib-alma-base:v0.0.1'
  publish_registry: '${registry.host}/openchami'
  registry_opts_push: ['--tls-verify=false']
  groups:
    - 'compute'
  playbooks: 'playbook.yaml'
  inventory: 'inventory/'
${extra}`;

describe("image-build's Ansible layer on a parent from the local container store", () => {
  test("the pushed image is the parent's layers plus one, with the playbook's changes inside", () => {
    const file = join(project, 'compute-ansible.yaml');
    writeFileSync(file, config());
    const wd = tempDir('osb-ib-ansible-wd-');
    const r = osb(['build', '--config', file, '--workdir', wd], { env: cleanEnv(), timeoutMs: 900_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const inspect = (ref: string) => JSON.parse(execFileSync('skopeo', ['inspect', '--raw', ...ref.startsWith('docker://') ? ['--tls-verify=false'] : [], ref], { encoding: 'utf8' })) as { layers: { digest: string }[] };
    const parent = inspect(`containers-storage:${PARENT}`);
    const child = inspect(`docker://${registry.host}/openchami/compute-ansible:latest`);
    expect(child.layers.length).toBe(parent.layers.length + 1);
    // umoci unpacks what the registry holds: the playbook's template, user and enabled unit.
    const dir = tempDir('osb-ib-ansible-pulled-');
    execFileSync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/openchami/compute-ansible:latest`, `oci:${join(dir, 'layout')}:latest`]);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${join(dir, 'layout')}:latest`, join(dir, 'root')]);
    const root = join(dir, 'root');
    expect(readFileSync(join(root, 'etc/chrony/chrony.conf'), 'utf8')).toContain('server ntp.compute.example iburst');
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toMatch(/^osbtest:x:2345:/m);
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants/osb-node-hello.service');
    expect(lstatSync(wants).isSymbolicLink()).toBe(true);
    expect(readlinkSync(wants)).toBe('/etc/systemd/system/osb-node-hello.service');
    expect(existsSync(join(root, 'root/.ansible'))).toBe(false);
    const labels = (JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/openchami/compute-ansible:latest`], { encoding: 'utf8' })) as { Labels: Record<string, string> }).Labels;
    expect(labels).toMatchObject({ 'org.openchami.image.type': 'ansible', 'org.openchami.image.parent': 'osb-ib-alma-base:v0.0.1' });
    // Nothing of the playbook reached the host.
    expect(readFileSync('/etc/passwd', 'utf8')).not.toMatch(/^osbtest:/m);
  }, 900_000);

  test('vars override the inventory\'s group vars; a failing task fails the build naming it', () => {
    const file = join(project, 'compute-vars.yaml');
    writeFileSync(file, config("  vars:\n    chrony_server: 'ntp.override.example'\n"));
    const wd = tempDir('osb-ib-ansible-wd-');
    const r = osb(['rootfs', '--config', file, '--workdir', wd], { env: cleanEnv(), timeoutMs: 900_000 });
    expect(r.code).toBe(0);
    expect(readFileSync(join(wd, 'rootfs/etc/chrony/chrony.conf'), 'utf8')).toContain('server ntp.override.example iburst');
    const bad = join(project, 'compute-fail.yaml');
    writeFileSync(bad, config().replace("playbooks: 'playbook.yaml'", "playbooks: 'fail.yaml'"));
    const f = osb(['rootfs', '--config', bad, '--workdir', wd], { env: cleanEnv(), timeoutMs: 900_000 });
    expect(f.code).toBe(1);
    expect(errorLine(f.stderr)).toMatch(/^osb: rootfs failed: ansible task "Break on purpose" failed: /);
    // The previous rootfs stays.
    expect(readFileSync(join(wd, 'rootfs/etc/chrony/chrony.conf'), 'utf8')).toContain('server ntp.override.example iburst');
  }, 900_000);
});
