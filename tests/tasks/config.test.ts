/**
 * Where settings come from: flags, OSB_* and Kata's environment names, osb.yaml, the workdir's
 * record of earlier commands, defaults. `osb config` shows each value's source; osb.yaml errors
 * name file:line; a bad boolean flag is refused as its environment form is.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandLine } from '../../tasks/commands/index.js';
import { planFor } from '../../tasks/commands/workdir.js';
import { hashValue } from '../../lib/hash.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

let dir: string;
let fixture: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-config-'));
  fixture = makeFixtureRootfs(join(dir, 'fixture'), { specials: false });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function project(name: string, yaml: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'osb.yaml'), yaml);
  return d;
}

type ConfigJson = { workdir: string; project: string | null; settings: Record<string, { value: unknown; source: string }> };
function configJson(cwd: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): ConfigJson {
  const r = osb(['config', '--json', ...args], { cwd, env: cleanEnv(env) });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as ConfigJson;
}

describe('osb config', () => {
  test('shows each setting with the source of its value: flag, env OSB_*, env Kata name, osb.yaml:line, workdir, default', () => {
    const cwd = project('sources', '# a project\ndistro: alpine\nimage_size: 300\n');
    // A writing command records what it was given: the rootfs directory and --agent-init.
    const first = osb(['initrd', '--no-deps', '--rootfs-dir', fixture, '--agent-init', '--compression', 'gzip'], { cwd });
    expect(first.code).toBe(0);
    const c = configJson(cwd, ['--fs-type', 'xfs'], { OSB_COMPRESSION: 'lz4', BLOCK_SIZE: '2048' });
    expect(c.settings.fsType).toEqual({ value: 'xfs', source: 'flag --fs-type' });
    expect(c.settings.compression).toEqual({ value: 'lz4', source: 'env OSB_COMPRESSION' });
    expect(c.settings.blockSize).toEqual({ value: 2048, source: 'env BLOCK_SIZE' });
    expect(c.settings.distro).toEqual({ value: 'alpine', source: 'osb.yaml:2' });
    expect(c.settings.imageSize).toEqual({ value: 300, source: 'osb.yaml:3' });
    expect(c.settings.agentInit).toEqual({ value: true, source: 'workdir' });
    expect(c.settings.rootfsDir).toEqual({ value: fixture, source: 'workdir' });
    expect(c.settings.partitionTable).toEqual({ value: 'mbr', source: 'default' });
    expect(c.project).toBe('osb.yaml');
    // The text form says the same, one line per setting.
    const text = osb(['config'], { cwd }).stdout;
    expect(text).toMatch(/^--agent-init\s+yes\s+workdir$/m);
    expect(text).toMatch(/^--distro\s+alpine\s+osb\.yaml:2$/m);
    expect(text).toMatch(/precedence: flag > OSB_\* env > Kata env > osb\.yaml > workdir > default/);
  });

  test('precedence: flag > OSB_* env > Kata env > osb.yaml > workdir > default', () => {
    const cwd = project('precedence', 'compression: xz\n');
    expect(osb(['initrd', '--no-deps', '--rootfs-dir', fixture, '--agent-init', '--compression', 'gzip', '--workdir', 'w'], { cwd }).code).toBe(0);
    const at = (args: string[], env: NodeJS.ProcessEnv) => configJson(cwd, ['--workdir', 'w', ...args], env).settings.compression;
    // osb.yaml was also given to the first command, so the record holds gzip (the flag won then).
    rmSync(join(cwd, 'osb.yaml'));
    expect(at([], {})).toEqual({ value: 'gzip', source: 'workdir' });
    writeFileSync(join(cwd, 'osb.yaml'), 'compression: xz\n');
    expect(at([], {})).toEqual({ value: 'xz', source: 'osb.yaml:1' });
    expect(at([], { OSB_COMPRESSION: 'lz4', KATA_UNUSED: '1' })).toEqual({ value: 'lz4', source: 'env OSB_COMPRESSION' });
    expect(at(['--compression', 'none'], { OSB_COMPRESSION: 'lz4' })).toEqual({ value: 'none', source: 'flag --compression' });
    // Kata's name sits between OSB_* and the file: FS_TYPE against fs_type in osb.yaml.
    writeFileSync(join(cwd, 'osb.yaml'), 'fs_type: xfs\n');
    expect(configJson(cwd, ['--workdir', 'w'], { FS_TYPE: 'erofs' }).settings.fsType).toEqual({ value: 'erofs', source: 'env FS_TYPE' });
    expect(configJson(cwd, ['--workdir', 'w'], { FS_TYPE: 'erofs', OSB_FS_TYPE: 'ext4' }).settings.fsType).toEqual({ value: 'ext4', source: 'env OSB_FS_TYPE' });
  });

  test('per-run options are not recorded; --reset forgets the record and the workdir is back to the defaults', () => {
    const cwd = project('reset', '');
    expect(osb(['initrd', '--no-deps', '--force', '-j', '1', '--vmm', 'firecracker', '--rootfs-dir', fixture, '--agent-init', '--compression', 'gzip'], { cwd }).code).toBe(0);
    let c = configJson(cwd);
    expect(c.settings.compression.source).toBe('workdir');
    expect(c.settings.force).toEqual({ value: false, source: 'default' });
    // How to boot is asked each time: a later `osb boot --kernel bzImage` is not held to an earlier --vmm.
    expect(c.settings.vmm).toEqual({ value: 'qemu', source: 'default' });
    expect(c.settings.jobs.source).toBe('default');
    expect(c.settings.deps).toEqual({ value: true, source: 'default' });
    const r = osb(['config', '--reset'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/forgot the settings recorded in .*workdir/);
    c = configJson(cwd);
    for (const [key, v] of Object.entries(c.settings)) expect([key, v.source]).toEqual([key, 'default']);
    // The outputs stay: forgetting settings deletes nothing built.
    expect(existsSync(join(cwd, 'workdir', 'osb-initrd.img'))).toBe(true);
  });

  test('osb explain says where a changed setting came from, before and now', () => {
    const cwd = project('explain', '');
    expect(osb(['initrd', '--no-deps', '--rootfs-dir', fixture, '--agent-init', '--compression', 'gzip'], { cwd }).code).toBe(0);
    // Built again from the record alone: the stored source of compression is now the workdir.
    expect(osb(['initrd', '--no-deps', '--force'], { cwd }).code).toBe(0);
    const ex = osb(['explain', 'initrd', '--no-deps'], { cwd, env: cleanEnv({ OSB_COMPRESSION: 'lz4' }) });
    expect(ex.stdout).toBe('initrd would rebuild:\n  - input changed: setting compression: gzip (workdir) -> lz4 (env OSB_COMPRESSION)\n');
    expect(osb(['explain', 'initrd', '--no-deps'], { cwd }).stdout).toBe('initrd is up to date\n');
  });

  test('--schema prints a JSON Schema of osb.yaml generated from the settings table', () => {
    const r = osb(['config', '--schema'], { cwd: dir });
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { additionalProperties: boolean; properties: Record<string, { enum?: unknown[]; type?: unknown }> };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.fs_type!.enum).toEqual(['ext4', 'xfs', 'erofs']);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['distro', 'os_version', 'agent_init', 'packages', 'hooks', 'repos', 'kernel_config_fragments', 'workdir']));
    for (const perRun of ['force', 'dry_run', 'jobs', 'verbose', 'debug', 'log_format']) expect(schema.properties[perRun]).toBeUndefined();
  });
});

describe('osb.yaml', () => {
  test('a valid file gives the same inputs hash as the equivalent flags', async () => {
    const cwd = project('equivalent', ['distro: ubuntu', 'os_version: noble', 'agent_init: yes', 'packages:', '  - iproute2', '  - chrony', 'fs_type: erofs', 'image_size: 400', 'dax: no', 'hooks: [./h.sh]', ''].join('\n'));
    writeFileSync(join(cwd, 'h.sh'), '#!/bin/sh\n', { mode: 0o755 });
    const fromFile = await parseCommandLine(['image', '--workdir', join(cwd, 'wd')], {}, cwd);
    const fromFlags = await parseCommandLine(
      ['image', '--workdir', join(cwd, 'wd'), '--distro', 'ubuntu', '--os-version', 'noble', '--agent-init', '--extra-pkgs', 'iproute2 chrony', '--fs-type', 'erofs', '--image-size', '400', '--no-dax', '--hook', join(cwd, 'h.sh')],
      {},
      join(dir, 'fixture'),
    );
    const plans = await Promise.all([fromFile, fromFlags].map((p) => planFor(['image'], p.settings)));
    const hashes = plans.map((steps) => steps.map((s) => `${s.target.name} ${hashValue(s.inputs)}`));
    expect(hashes[0]).toEqual(hashes[1]);
    expect(hashes[0]).toHaveLength(2);
  });

  test.each([
    ['an unknown key', 'distro: debian\nagent_initt: yes\n', /^osb: osb\.yaml:2: unknown key 'agent_initt'; did you mean 'agent_init'\?$/],
    ['a wrong type', 'distro: debian\n\nimage_size: big\n', /^osb: osb\.yaml:3: image_size must be a number, got "big"$/],
    ['a boolean that is not one', 'agent_init: maybe\n', /^osb: osb\.yaml:1: agent_init must be a boolean \(yes\/no, true\/false\), got "maybe"$/],
    ['a choice not offered', 'fs_type: btrfs\n', /^osb: osb\.yaml:1: fs_type must be one of ext4, xfs, erofs; got 'btrfs'$/],
    ['a YAML syntax error', 'distro: debian\npackages: [a, b\nfs_type: ext4\n', /^osb: osb\.yaml:\d+: YAML syntax error: /],
    ['a per-run option', 'force: yes\n', /^osb: osb\.yaml:1: force is a per-run option/],
  ])('%s: one line with file:line, exit 2, nothing created', (_what, yaml, message) => {
    const cwd = project(`bad-${Math.random().toString(36).slice(2)}`, yaml);
    const r = osb(['image'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
    expect(readdirSync(cwd)).toEqual(['osb.yaml']);
  });

  test('--config FILE and OSB_CONFIG name the file; errors then name it as given', () => {
    const cwd = project('named', '');
    writeFileSync(join(cwd, 'guest.yaml'), 'distro: alpine\ncompression: nope\n');
    const r = osb(['config', '--config', 'guest.yaml'], { cwd });
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toMatch(/^osb: guest\.yaml:2: compression must be one of/);
    writeFileSync(join(cwd, 'guest.yaml'), 'distro: alpine\n');
    expect(configJson(cwd, [], { OSB_CONFIG: 'guest.yaml' }).settings.distro).toEqual({ value: 'alpine', source: 'guest.yaml:1' });
    const missing = osb(['config', '--config', 'nope.yaml'], { cwd });
    expect(missing.code).toBe(2);
    expect(errorLine(missing.stderr)).toMatch(/cannot read project file nope\.yaml/);
  });

  test('paths in osb.yaml are relative to the file; repos carry their keys', () => {
    const cwd = project('paths', 'agent_bin: bin/agent\nrepos:\n  - url: http://127.0.0.1:1/extra\n    key: keys/extra.asc\n    suite: bookworm-backports\n');
    const c = configJson(join(cwd), []);
    expect(c.settings.agentBin).toEqual({ value: join(cwd, 'bin/agent'), source: 'osb.yaml:1' });
    expect(c.settings.repos).toEqual({ value: [{ url: 'http://127.0.0.1:1/extra', key: join(cwd, 'keys/extra.asc'), suite: 'bookworm-backports' }], source: 'osb.yaml:2' });
    // The extra repository reaches mmdebstrap as a further sources line.
    mkdirSync(join(cwd, 'keys'));
    writeFileSync(join(cwd, 'keys/extra.asc'), 'key');
    writeFileSync(join(cwd, 'osb.yaml'), 'repos:\n  - url: http://127.0.0.1:1/extra\n    key: keys/extra.asc\n    suite: bookworm-backports\n');
    const dry = osb(['rootfs', '--dry-run'], { cwd });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`'deb [signed-by=${join(cwd, 'keys/extra.asc')}] http://127.0.0.1:1/extra bookworm-backports main'`);
  });
});

describe('bad input', () => {
  test.each([['--agent-init=maybe'], ['--dax=perhaps'], ['--no-dax=sometimes']])('%s is refused with exit 2, as its environment form is', (flag) => {
    const r = osb(['image', flag, '--workdir', join(dir, 'never')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^osb: ${flag.replace(/=.*/, '')}=\\w+ is not a yes/no value$`));
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  test("Kata's Alpine release spelling: --os-version 3.22 and OS_VERSION=3.22 mean v3.22", () => {
    for (const [args, env] of [[['--os-version', '3.22'], {}], [[], { OS_VERSION: '3.22' }]] as const) {
      const r = osb(['rootfs', '--distro', 'alpine', '--agent-init', '--dry-run', ...args, '--workdir', join(dir, 'alpine-dry')], { cwd: dir, env: cleanEnv(env) });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('/v3.22/main/x86_64/APKINDEX.tar.gz');
    }
  });

  test('a missing kernel config fragment is refused before the kernel source is touched', () => {
    const wd = join(dir, 'kernel-wd');
    const r = osb(['kernel', '--kernel-config-fragment', join(dir, 'missing.conf'), '--workdir', wd, '--cache-dir', join(dir, 'kernel-cache')], { cwd: dir });
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toBe(`osb: kernel config fragment ${join(dir, 'missing.conf')} cannot be read`);
    // Nothing was unpacked or created: no cache, no workdir.
    expect(existsSync(join(dir, 'kernel-cache'))).toBe(false);
    expect(existsSync(wd)).toBe(false);
  });

  test('a missing hook or agent is refused before any download, and nothing is created', () => {
    for (const flag of ['--hook', '--agent-bin']) {
      const wd = join(dir, `missing${flag}`);
      const r = osb(['rootfs', flag, join(dir, 'nope'), '--workdir', wd], { cwd: dir });
      expect(r.code).toBe(1);
      expect(errorLine(r.stderr)).toMatch(/(hook|agent binary) .*nope does not exist/);
      expect(existsSync(wd)).toBe(false);
    }
  });
});
