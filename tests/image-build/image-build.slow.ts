/**
 * OpenCHAMI image-build's own configs, built and published by `osb build --config FILE` against
 * the signed test rpm repository, a real registry (CNCF distribution) and a real S3 (Swift +
 * s3api). The configs are image-build's README and repository examples with only URLs, paths and
 * credentials changed. The oracles are the consumers: skopeo reads the pushed image and its
 * labels, rpm reads the tree's database, the S3 API lists the objects.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine } from '../helpers/cli.js';
import { buildRpmTestRepos, rpmQa, runOsb, serveRpmRepos, type RpmTestRepos, type Served } from '../rootfs-builder/rpm/helpers.js';
import { makeRegistry, type Registry } from '../publish/servers.js';
import { s3ClientOf, startSwift, type Swift } from '../publish/swift.js';

let repos: RpmTestRepos;
let served: Served;
let registry: Registry;
let swift: Swift;
let s3: S3Client;
let project: string;

const KVER = '6.1.0-osbtest.x86_64';
const DBPATH = '/var/lib/rpm'; // Rocky 9's, where --os-version 9 keeps it

beforeAll(async () => {
  repos = buildRpmTestRepos(tempDir('osb-ib-repos-'));
  served = await serveRpmRepos(repos);
  registry = await makeRegistry(tempDir('osb-ib-registry-'), 'plain');
  swift = await startSwift(tempDir('osb-ib-swift-'));
  s3 = s3ClientOf(swift);
  await s3.send(new CreateBucketCommand({ Bucket: 'boot-images' }));
  project = tempDir('osb-ib-project-');
}, 300_000);

afterAll(async () => {
  s3?.destroy();
  await swift?.stop();
  await registry?.stop();
  await served?.close();
  removeTempDirs();
});

const repoUrl = (path: string) => `${served.url}/imagebuild/${path}`;
const env = () => cleanEnv({ S3_ACCESS: swift.access, S3_SECRET: swift.secret });

/** image-build's README base example: its options, repos, groups, packages and cmds, URLs pointed at the test servers. */
function rockyBase(extraCmd = ''): string {
  return `options:
  layer_type: 'base'
  name: 'rocky-base'
  publish_tags: '8.10'
  pkg_manager: 'dnf'
  parent: 'scratch'
  publish_registry: '${registry.host}/openchami'
  registry_opts_push:
    - '--tls-verify=false'
  publish_s3: '${swift.endpoint}'
  s3_prefix: 'compute/base/'
  s3_bucket: 'boot-images'

repos:
  - alias: 'rocky-baseos'
    url: '${repoUrl('pub/rocky/8/BaseOS/x86_64/os')}'
  - alias: 'rock_appstream'
    url: '${repoUrl('pub/rocky/8/AppStream/x86_64/os')}'

package_groups:
  - 'Minimal Install'
  - 'Development Tools'

packages:
  - kernel
  - wget

cmds:
  - cmd: 'echo hello'
${extraCmd}`;
}

const write = (name: string, text: string): string => {
  const p = join(project, name);
  writeFileSync(p, text);
  return p;
};

/** The common command line: the test key trusts the repositories (the configs name none), Rocky 9's rpm database. */
const build = (config: string, wd: string, ...more: string[]) => runOsb(['build', '--config', config, '--workdir', wd, ...(more.includes('--os-version') ? [] : ['--os-version', '9']), '--keys-dir', repos.keysDir, ...more], env());

function skopeoInspect(ref: string, raw = false): Record<string, unknown> {
  return JSON.parse(execFileSync('skopeo', ['inspect', ...(raw ? ['--raw'] : []), '--tls-verify=false', `docker://${registry.host}/${ref}`], { encoding: 'utf8' }));
}

describe("image-build's README base example", () => {
  test("its cmd with buildah_extra_args is refused at its line: there is no buildah run", async () => {
    const config = write('rocky-buildah.yaml', rockyBase(`  - cmd: 'id user'\n    buildah_extra_args: ['--volume', '/var/lib/sss:/var/lib/sss:z']\n`));
    const r = await build(config, tempDir('osb-ib-wd-'));
    expect(r.code).toBe(2);
    const line = rockyBase().split('\n').length; // the entry's line: right after the last line of the base text
    expect(errorLine(r.stderr)).toBe(`osb: ${config}:${line}: buildah_extra_args: osb runs cmds in the rootfs with no container engine, so there is no buildah run to pass them to`);
  });

  test('builds, pushes rocky-base:8.10 with image-build\'s labels, and uploads the squashfs, kernel and initramfs under its S3 names', async () => {
    const wd = tempDir('osb-ib-wd-');
    const config = write('rocky.yaml', rockyBase());
    const r = await build(config, wd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('running in the rootfs: echo hello');
    // The tree: groups by name, packages, from only the config's repositories.
    const pkgs = rpmQa(join(wd, 'rootfs'), DBPATH).map((l) => l.split(' ')[0]);
    for (const p of ['kernel', 'wget', 'chrony', 'make', 'busybox', 'filesystem']) expect(pkgs).toContain(p);
    // The registry: one push per tag, under publish_registry/name.
    const img = skopeoInspect('openchami/rocky-base:8.10') as { Labels: Record<string, string> };
    expect(img.Labels).toMatchObject({
      'org.openchami.image.name': 'rocky-base',
      'org.openchami.image.type': 'base',
      'org.openchami.image.parent': 'scratch',
      'org.openchami.image.package-manager': 'dnf',
      'org.openchami.image.tags': '8.10',
      'org.openchami.image.repositories': 'rocky-baseos,rock_appstream',
      'org.openchami.image.packages': 'kernel,wget',
      'org.openchami.image.package-groups': 'Minimal Install,Development Tools',
    });
    // S3: the names image-build's boot configs point at.
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'boot-images' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
    expect(keys).toEqual([`compute/base/osbtest1.0-rocky-base-8.10`, `efi-images/compute/base/initramfs-${KVER}.img`, `efi-images/compute/base/vmlinuz-${KVER}`]);
    const sq = (listed.Contents ?? []).find((o) => o.Key === 'compute/base/osbtest1.0-rocky-base-8.10')!;
    expect(sq.Size).toBe(statSync(join(wd, 'osb.squashfs')).size);
    // osb config shows each value with the config's FILE:LINE.
    const c = await runOsb(['config', '--config', config, '--workdir', wd, '--json'], env());
    const settings = JSON.parse(c.stdout).settings as Record<string, { value: unknown; source: string }>;
    expect(settings.publishRegistry).toEqual({ value: `${registry.host}/openchami/rocky-base`, source: `${config}:7` });
    expect(settings.packageGroups).toEqual({ value: ['Minimal Install', 'Development Tools'], source: `${config}:20` });
    expect(settings.distro).toEqual({ value: 'rocky', source: `${config}:5` });
  }, 600_000);
});

describe("image-build's repository examples", () => {
  test('alma base with remove_packages (the package and the dependency only it needed go), modules and a gpg key by URL', async () => {
    const wd = tempDir('osb-ib-wd-');
    const config = write(
      'alma-base.yaml',
      `options:
  layer_type: 'base'
  name: 'alma-base'
  pkg_manager: 'dnf'
  parent: 'scratch'
  publish_tags: v0.0.1

repos:
  - alias: 'Alma_BaseOS'
    url: '${repoUrl('almalinux/8/BaseOS/x86_64/os/')}'
    gpg: '${served.url}/keys/RPM-GPG-KEY-osb-test'

modules:
  enable:
    - 'osb-stream:2'

package_groups:
  - 'Minimal Install'

packages:
  - kernel
  - alma-repos
  - osb-orphan-top
  - osb-modular

remove_packages:
  - alma-repos
  - osb-orphan-top

cmds:
  - 'echo alma linux base'
`,
    );
    // No --keys-dir: the key comes from the URL, fetched once.
    const r = await runOsb(['build', '--config', config, '--workdir', wd, '--os-version', '9'], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const fpr = /fetched \S+RPM-GPG-KEY-osb-test: fingerprint ([0-9A-F]{40})/.exec(r.stdout)?.[1];
    expect(fpr).toBeDefined();
    const pkgs = rpmQa(join(wd, 'rootfs'), DBPATH);
    const names = pkgs.map((l) => l.split(' ')[0]);
    expect(names).not.toContain('alma-repos');
    expect(names).not.toContain('osb-orphan-top');
    expect(names).not.toContain('osb-orphan-dep'); // installed only for osb-orphan-top
    expect(pkgs).toContain('osb-modular 2.0-1 noarch'); // the stream enabled, not the default 1
    expect(readFileSync(join(wd, 'rootfs/etc/dnf/modules.d/osb-stream.module'), 'utf8')).toMatch(/stream=2/);
    const m = JSON.parse(readFileSync(join(wd, 'rootfs.manifest.json'), 'utf8'));
    expect(m.repos[0]).toMatchObject({ alias: 'Alma_BaseOS', keyUrl: `${served.url}/keys/RPM-GPG-KEY-osb-test`, keyFingerprints: [fpr] });
    // A second build uses the cached key: nothing fetched.
    const again = await runOsb(['rootfs', '-B', '--config', config, '--workdir', wd, '--os-version', '9'], env());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`using the copy fetched earlier of ${served.url}/keys/RPM-GPG-KEY-osb-test: fingerprint ${fpr}`);
  }, 600_000);

  test('compute on the base from the registry: parent + repos + packages + copyfiles (content and mode) + cmds; a changed copyfiles source rebuilds; a failing cmd keeps the previous rootfs', async () => {
    const wd = tempDir('osb-ib-wd-');
    mkdirSync(join(project, 'files'), { recursive: true });
    writeFileSync(join(project, 'files/override.conf'), '[Service]\nEnvironment=A=1\n');
    writeFileSync(join(project, 'files/setup.sh'), '#!/bin/sh\necho setup\n');
    const compute = (cmd: string) => `options:
  layer_type: 'base'
  name: 'compute-base'
  publish_tags:
    - '8.9'
    - 'latest'
  pkg_manager: 'dnf'
  parent: '${registry.host}/openchami/rocky-base:8.10'
  registry_opts_pull:
    - '--tls-verify=false'
  publish_registry: '${registry.host}/stratus'
  registry_opts_push:
    - '--tls-verify=false'

repos:
  - alias: 'OpenHPC'
    url: '${repoUrl('OpenHPC/2/EL_8/')}'

packages:
  - chrony
  - osb-orphan-dep

copyfiles:
  - src: 'files/override.conf'
    dest: '/etc/systemd/system/cloud-init.service.d/override.conf'
  - src: 'files/setup.sh'
    dest: '/usr/local/bin/ochami-ci-setup.sh'
    opts: ['--chmod 0755']

cmds:
  - cmd: '${cmd}'
`;
    const config = write('compute.yaml', compute('test -x /usr/local/bin/ochami-ci-setup.sh && /usr/local/bin/ochami-ci-setup.sh > /etc/setup-ran'));
    const r = await build(config, wd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const root = join(wd, 'rootfs');
    expect(readFileSync(join(root, 'etc/systemd/system/cloud-init.service.d/override.conf'), 'utf8')).toBe('[Service]\nEnvironment=A=1\n');
    expect(statSync(join(root, 'usr/local/bin/ochami-ci-setup.sh')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(root, 'etc/setup-ran'), 'utf8')).toBe('setup\n');
    expect(rpmQa(root, DBPATH).map((l) => l.split(' ')[0])).toEqual(expect.arrayContaining(['kernel', 'wget', 'osb-orphan-dep']));
    // The parent's layers plus one, for each tag.
    const parent = skopeoInspect('openchami/rocky-base:8.10', true) as { layers: { digest: string }[] };
    for (const tag of ['8.9', 'latest']) {
      const child = skopeoInspect(`stratus/compute-base:${tag}`, true) as { layers: { digest: string }[] };
      expect(child.layers.length).toBe(parent.layers.length + 1);
      expect(child.layers.slice(0, -1).map((l) => l.digest)).toEqual(parent.layers.map((l) => l.digest));
    }
    // A changed copyfiles source is an input: the rootfs rebuilds.
    const explain0 = await runOsb(['explain', 'rootfs', '--config', config, '--workdir', wd, '--os-version', '9', '--keys-dir', repos.keysDir], env());
    expect(explain0.stdout).toMatch(/up to date/);
    writeFileSync(join(project, 'files/override.conf'), '[Service]\nEnvironment=A=2\n');
    const explain1 = await runOsb(['explain', 'rootfs', '--config', config, '--workdir', wd, '--os-version', '9', '--keys-dir', repos.keysDir], env());
    expect(explain1.stdout).toMatch(/override\.conf/);
    // A failing cmd names the cmd, and the previous rootfs stays.
    const bad = write('compute-bad.yaml', compute('echo about to fail; exit 3'));
    const f = await runOsb(['rootfs', '--config', bad, '--workdir', wd, '--os-version', '9', '--keys-dir', repos.keysDir], env());
    expect(f.code).toBe(1);
    expect(errorLine(f.stderr)).toBe("osb: rootfs failed: cmds: 'echo about to fail; exit 3' failed with exit code 3: about to fail");
    expect(readFileSync(join(root, 'etc/setup-ran'), 'utf8')).toBe('setup\n');
    expect(readFileSync(join(root, 'etc/systemd/system/cloud-init.service.d/override.conf'), 'utf8')).toBe('[Service]\nEnvironment=A=1\n');
    expect(execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' })).not.toContain(wd);
  }, 900_000);

  test('a zypper layer on a parent (the suse_bci_base example): packages and remove_packages with zypper', async () => {
    const wd = tempDir('osb-ib-wd-');
    const config = write(
      'suse.yaml',
      `options:
  layer_type: 'base'
  name: 'suse-base'
  publish_tags:
    - '15.7'
  pkg_manager: 'zypper'
  parent: '${registry.host}/openchami/rocky-base:8.10'
  registry_opts_pull: ['--tls-verify=false']
  publish_registry: '${registry.host}/suse'
  registry_opts_push: ['--tls-verify=false']

repos:
  - alias: 'osb'
    url: '${repoUrl('distribution/leap/15.7/repo/oss/')}'

packages:
  - osb-orphan-top

remove_packages:
  - wget
`,
    );
    // openSUSE's release; the parent keeps its rpm database where it has it (Rocky 9's /var/lib/rpm).
    const r = await build(config, wd, '--os-version', '16.0');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const names = rpmQa(join(wd, 'rootfs'), DBPATH).map((l) => l.split(' ')[0]);
    expect(names).toContain('osb-orphan-top');
    expect(names).not.toContain('wget');
    expect((skopeoInspect('suse/suse-base:15.7') as { Labels: Record<string, string> }).Labels['org.openchami.image.package-manager']).toBe('zypper');
  }, 600_000);

  test('the tree osb built leaves no mount behind, and nothing was written outside the workdirs', () => {
    expect(execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' })).not.toMatch(/osb-ib-wd-/);
    expect(existsSync('/etc/cmd-made')).toBe(false);
  });
});
