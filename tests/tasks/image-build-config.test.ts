/**
 * image-build's config format read by `osb build --config FILE`: every key image-build reads
 * (tests/fixtures/image-build/keys.json, taken from its sources) maps onto a value osb shows with
 * FILE:LINE, and anything else, or a value in the wrong form, is refused with FILE:LINE.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../../tasks/commands/index.js';
import { IMAGE_BUILD_KEYS } from '../../tasks/cli/image-build.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';

const KEYS = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/image-build/keys.json', import.meta.url)), 'utf8')) as { top: string[]; options: string[] };
const dir = tempDir('osb-ib-config-');
mkdirSync(join(dir, 'files'));
writeFileSync(join(dir, 'files/a.conf'), 'a\n');
afterAll(() => removeTempDirs());

let n = 0;
async function parse(text: string, command = 'build') {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  const p = await parseCommandLine([command, '--config', file, '--workdir', join(dir, 'wd')], {}, dir);
  return { file, p };
}
async function refusal(text: string): Promise<{ file: string; message: string }> {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  try {
    await parseCommandLine(['build', '--config', file, '--workdir', join(dir, 'wd')], {}, dir);
  } catch (e) {
    return { file, message: (e as Error).message };
  }
  throw new Error(`accepted:\n${text}`);
}

const BASE = "options:\n  layer_type: 'base'\n  pkg_manager: 'dnf'\n";
const ANSIBLE = "options:\n  layer_type: 'ansible'\n  parent: 'registry.example.org/base:1'\n  playbooks: 'site.yaml'\n";

/** A config that uses the key, the line the key is on, and the osb value that must come from that line. */
const USES: Record<string, { text: string; line: number; value: string }> = {
  'options.layer_type': { text: BASE, line: 2, value: 'agent' },
  'options.pkg_manager': { text: BASE, line: 3, value: 'distro' },
  'options.gpgcheck': { text: `${BASE}  gpgcheck: false\n`, line: 4, value: 'gpgcheck' },
  'options.groups': { text: `${ANSIBLE}  groups: ['compute']\n`, line: 5, value: 'ansibleGroup' },
  'options.playbooks': { text: ANSIBLE, line: 4, value: 'ansiblePlaybook' },
  'options.inventory': { text: `${ANSIBLE}  inventory: 'inventory/'\n`, line: 5, value: 'ansibleInventory' },
  'options.vars': { text: `${ANSIBLE}  vars:\n    chrony_server: 10.0.0.1\n`, line: 5, value: 'ansibleVars' },
  'options.ansible_verbosity': { text: `${ANSIBLE}  ansible_verbosity: '3'\n`, line: 5, value: 'ansibleVerbosity' },
  'options.parent': { text: `${BASE}  parent: 'alma-base:v0.0.1'\n`, line: 4, value: 'parent' },
  'options.proxy': { text: `${BASE}  proxy: 'http://proxy.example.org:3128'\n`, line: 4, value: 'proxy' },
  'options.name': { text: `${BASE}  name: 'rocky-base'\n`, line: 4, value: 'ociRef' },
  'options.publish_local': { text: `${BASE}  publish_local: true\n`, line: 4, value: 'publishLocal' },
  'options.publish_s3': { text: `${BASE}  publish_s3: 'http://s3.example.org'\n`, line: 4, value: 'publishS3' },
  'options.s3_prefix': { text: `${BASE}  publish_s3: 'http://s3.example.org'\n  s3_prefix: 'compute/'\n`, line: 5, value: 's3Prefix' },
  'options.s3_bucket': { text: `${BASE}  publish_s3: 'http://s3.example.org'\n  s3_bucket: 'boot'\n`, line: 5, value: 's3Bucket' },
  'options.publish_registry': { text: `${BASE}  publish_registry: 'registry.example.org/openchami'\n`, line: 4, value: 'publishRegistry' },
  'options.registry_opts_push': { text: `${BASE}  registry_opts_push:\n    - '--tls-verify=false'\n`, line: 4, value: 'insecureRegistry' },
  'options.registry_opts_pull': { text: `${BASE}  registry_opts_pull:\n    - '--authfile auth.json'\n`, line: 4, value: 'registryAuthFile' },
  'options.publish_tags': { text: `${BASE}  publish_tags: ['8.9', 'latest']\n`, line: 4, value: 'tag' },
  'options.scap_benchmark': { text: `${BASE}  scap_benchmark: true\nopenscap:\n  - benchmark_path: 'ds.xml'\n`, line: 6, value: 'scapDatastream' },
  'options.oval_eval': { text: `${BASE}  oval_eval: true\nopenscap:\n  - oval_url: 'https://example.org/oval.xml.bz2'\n`, line: 6, value: 'ovalDefinitions' },
  'options.install_scap': { text: `${BASE}  install_scap: true\n`, line: 4, value: 'extraPkgs' },
  'options.labels': { text: `${BASE}  labels:\n    maintainer: 'Me <me@example.org>'\n`, line: 4, value: 'label' },
  options: { text: BASE, line: 2, value: 'distroRepos' },
  modules: { text: `${BASE}modules:\n  enable: ['nodejs:18']\n`, line: 4, value: 'modules' },
  packages: { text: `${BASE}packages: [kernel, wget]\n`, line: 4, value: 'extraPkgs' },
  package_groups: { text: `${BASE}package_groups: ['Minimal Install']\n`, line: 4, value: 'packageGroups' },
  remove_packages: { text: `${BASE}remove_packages: [alma-repos]\n`, line: 4, value: 'removePackages' },
  cmds: { text: `${BASE}cmds:\n  - 'echo hi'\n  - cmd: 'id'\n    loglevel: INFO\n`, line: 4, value: 'cmds' },
  copyfiles: { text: `${BASE}copyfiles:\n  - src: 'files/a.conf'\n    dest: '/etc/a.conf'\n`, line: 4, value: 'copyfiles' },
  repos: { text: `${BASE}repos:\n  - alias: 'base'\n    url: 'https://example.org/os/'\n    gpg: 'https://example.org/KEY'\n`, line: 4, value: 'repos' },
  openscap: { text: `${BASE}  scap_benchmark: true\nopenscap:\n  - profile: 'standard'\n  - benchmark_path: 'ds.xml'\n`, line: 6, value: 'scapProfile' },
};

describe("every key image-build reads maps onto osb, shown with FILE:LINE", () => {
  const all = [...KEYS.top.map((k) => k), ...KEYS.options.map((k) => `options.${k}`)];
  test('the key list of image-build and the keys osb documents are the same', () => {
    expect(Object.keys(IMAGE_BUILD_KEYS).concat('options').sort()).toEqual([...all].sort());
  });
  test.each(all)('%s', async (key) => {
    const use = USES[key];
    expect(use).toBeDefined();
    const { file, p } = await parse(use!.text);
    expect(p.sources[use!.value]?.text).toBe(`${file}:${use!.line}`);
  });
});

describe('what the values become', () => {
  test("parent: a name without a registry host is the local container store; with one, a registry", async () => {
    expect((await parse(`${BASE}  parent: 'alma-base:v0.0.1'\n`)).p.settings.parent).toBe('containers-storage:alma-base:v0.0.1');
    expect((await parse(`${BASE}  parent: 'registry.example.org/openchami/rocky-base:8.10'\n`)).p.settings.parent).toBe('docker://registry.example.org/openchami/rocky-base:8.10');
    expect((await parse(`${BASE}  parent: 'scratch'\n`)).p.settings.parent).toBeUndefined();
  });
  test('the repos forms: {alias, url, gpg} and {alias, config, gpg_key}', async () => {
    const { p } = await parse(`${BASE}repos:\n  - alias: 'a'\n    url: 'https://example.org/a/'\n    gpg: 'https://example.org/KEY-a'\n  - alias: 'b'\n    config: |\n      [b]\n      name=b\n      baseurl=https://example.org/b/$basearch/\n      gpgcheck=1\n    gpg_key: 'files/a.conf'\n`);
    expect(p.settings.repos).toEqual([
      { url: 'https://example.org/a/', alias: 'a', keyUrl: 'https://example.org/KEY-a' },
      { url: 'https://example.org/b/$basearch/', alias: 'b', key: join(dir, 'files/a.conf') },
    ]);
  });
  test("publish names and image-build's labels", async () => {
    const { p } = await parse(`${BASE}  name: 'compute'\n  publish_tags: ['8.9', 'latest']\n  publish_registry: 'registry.example.org/stratus/'\n  labels:\n    version: '1.0.0'\npackages: [chrony]\n`);
    expect(p.settings.publishRegistry).toBe('registry.example.org/stratus/compute');
    expect(p.settings.ociRef).toBe('localhost/compute:8.9');
    expect(p.settings.tag).toEqual(['8.9', 'latest']);
    expect(p.settings.label).toEqual(expect.arrayContaining(['org.openchami.image.name=compute', 'org.openchami.image.type=base', 'org.openchami.image.tags=8.9,latest', 'org.openchami.image.packages=chrony', 'version=1.0.0']));
  });
  test('osb build plans the publishing the config names, else the OCI image', async () => {
    const { p } = await parse(`${BASE}  publish_local: true\n`, 'build');
    expect(p.command).toBe('build');
    const { groupTargets } = await import('../../tasks/targets/index.js');
    expect(groupTargets('build', p.settings)).toEqual(['publish']);
    expect(groupTargets('build', (await parse(BASE)).p.settings)).toEqual(['oci']);
  });
});

describe('refused with FILE:LINE and what to do', () => {
  test.each([
    ['an unknown top-level key', `${BASE}pakages: [x]\n`, 4, "unknown image-build key 'pakages'; did you mean 'packages'?"],
    ['an unknown option', `${BASE}  publsh_local: true\n`, 4, "unknown image-build option 'publsh_local'; did you mean 'publish_local'?"],
    ["publish_local: true' (a string, as in image-build's own Ansible example)", `${BASE}  publish_local: true'\n`, 4, 'options.publish_local must be a boolean (yes/no, true/false), got "true\'"'],
    ['no layer_type', "options:\n  pkg_manager: 'dnf'\n", 1, 'options.layer_type is required (base or ansible), as image-build requires it'],
    ['a pkg_manager osb has not', "options:\n  layer_type: 'base'\n  pkg_manager: 'yum'\n", 3, "options.pkg_manager must be one of dnf, zypper, got 'yum'"],
    ['buildah_extra_args', `${BASE}cmds:\n  - cmd: 'id user'\n    buildah_extra_args: ['--volume', '/a:/a']\n`, 5, 'buildah_extra_args: osb runs cmds in the rootfs with no container engine, so there is no buildah run to pass them to'],
    ['credentials in registry_opts', `${BASE}  registry_opts_push: ['--creds u:p']\n`, 4, 'options.registry_opts_push: --creds puts a password in the config file; osb does not read credentials from files it may record'],
    ['a buildah flag osb has no equal for', `${BASE}  registry_opts_push: ['--sign-by KEY']\n`, 4, "options.registry_opts_push: '--sign-by' is not handled (osb takes --tls-verify, --authfile, --cert-dir)"],
    ['push and pull options that disagree', `${BASE}  registry_opts_push: ['--tls-verify=false']\n  registry_opts_pull: ['--tls-verify=true']\n`, 5, 'options.registry_opts_pull sets insecureRegistry to false, but options.registry_opts_push set it to true'],
    ['an ansible key on a base layer', `${BASE}  playbooks: 'site.yaml'\n`, 4, 'options.playbooks is read only for layer_type: ansible'],
    ['packages on an ansible layer', `${ANSIBLE}packages: [x]\n`, 5, 'packages is not read for layer_type: ansible (image-build runs only the playbooks on an ansible layer)'],
    ['an ansible layer from scratch', "options:\n  layer_type: 'ansible'\n  playbooks: 'a.yaml'\n", 2, 'an ansible layer needs a parent image to run the playbooks on'],
    ['a copyfiles opt osb has no equal for', `${BASE}copyfiles:\n  - src: 'a'\n    dest: '/a'\n    opts: ['--from img']\n`, 5, "copyfiles opts: '--from' is not handled (osb takes --chmod MODE and --chown UID:GID)"],
    ['a copyfiles dest that climbs out', `${BASE}copyfiles:\n  - src: 'a'\n    dest: '/etc/../../x'\n`, 5, 'copyfiles dest /etc/../../x climbs out with ..'],
    ['a module command dnf has not', `${BASE}modules:\n  enabel: [x]\n`, 5, "unknown module command 'enabel'; did you mean 'enable'?"],
    ['a cmds loglevel image-build has not', `${BASE}cmds:\n  - cmd: 'x'\n    loglevel: LOUD\n`, 5, 'cmds loglevel must be one of DEBUG, INFO, WARN, ERROR, got "LOUD"'],
    ['openscap output paths (osb writes results beside the rootfs)', `${BASE}  scap_benchmark: true\nopenscap:\n  - results_path: '/root/scan.xml'\n`, 6, 'openscap results_path: osb writes the results beside the rootfs (WORKDIR/openscap.*), not into the image'],
    ['scap_benchmark without a benchmark', `${BASE}  scap_benchmark: true\n`, 4, 'scap_benchmark needs openscap: - benchmark_path: <the data stream>'],
    ['a repos entry with two keys', `${BASE}repos:\n  - alias: a\n    url: 'https://e.org/a/'\n    gpg: 'https://e.org/K1'\n    gpg_key: 'K2'\n`, 5, 'a repos entry takes one signing key, got 2 (https://e.org/K1, K2)'],
    ['a repos config without baseurl', `${BASE}repos:\n  - alias: a\n    config: |\n      [a]\n      metalink=https://e.org/m\n`, 5, "the repos config of 'a' has no baseurl (metalink and mirrorlist are not followed)"],
  ])('%s', async (_what, text, line, message) => {
    const r = await refusal(text);
    expect(r.message).toBe(`${r.file}:${line}: ${message}`);
  });

  test('gpgcheck: false is refused at build time unless --allow-unsigned, naming its line', async () => {
    const { file, p } = await parse(`${BASE}  gpgcheck: false\n`);
    const { loadTargets } = await import('../../tasks/targets/index.js');
    const rootfs = (await loadTargets()).get('rootfs')!;
    await expect(rootfs.validate!(p.settings)).rejects.toThrow(`${file}:4: gpgcheck: false would install packages nobody vouches for`);
  });
});
