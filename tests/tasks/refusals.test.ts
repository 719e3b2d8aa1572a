/**
 * Bad input as a new user would give it, through the built CLI: output names that are paths,
 * trees that are not an OS, values that break their grammar, a CA that is not PEM, osb.yaml's
 * near-misses. Each is refused in one line (and a hint), with its exit code, before any work: no
 * artefact under a final name, and nothing in the workdir changed or deleted.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { missingFromTree, statInTree } from '../../lib/bootable.js';
import { parseCommandLine } from '../../tasks/commands/index.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, osb, type OsbResult } from '../helpers/cli.js';
import { craftOciArchive } from '../helpers/crafted-tar.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

afterAll(removeTempDirs);

/** Every name under `dir` with its type, mode, size and content hash: what "nothing changed" compares. */
const listing = (dir: string) => (existsSync(dir) ? execFileSync('sh', ['-c', 'cd "$1" && find . -printf "%p %y %m %s\\n" | sort && find . -type f -exec sha256sum {} + | sort', 'sh', dir], { encoding: 'utf8' }) : '(none)');

/** osb's error lines: the one "osb:" line and at most one hint, nothing else on stderr. */
function oneLine(r: OsbResult, code: number, message: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  if (lines.length > 2 || !message.test(lines[0] ?? '')) console.log(r.stdout + r.stderr);
  expect(r.code).toBe(code);
  expect(lines[0]).toMatch(message);
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^osb: hint: /);
  expect(r.stderr).not.toMatch(/Unexpected token|ENOENT: no such file|at .*\.js:\d+/);
}

let rootfs: string;
/** A workdir with things in it already (a record, an earlier artefact, a user's file) that a refusal must leave alone. */
function usedWorkdir(): string {
  const wd = join(tempDir('osb-refuse-wd-'), 'wd');
  mkdirSync(join(wd, '.osb'), { recursive: true });
  writeFileSync(join(wd, '.osb', 'config.json'), '{}\n');
  writeFileSync(join(wd, 'osb.img'), 'an earlier image\n');
  writeFileSync(join(wd, 'notes.txt'), "the user's own file\n");
  return wd;
}

beforeAll(() => {
  rootfs = makeFixtureRootfs(join(tempDir('osb-refuse-rootfs-'), 'rootfs'));
});

describe('item 2: an output name is a file name in the workdir, not a path', () => {
  test.each([
    ['a parent directory', ['image', '--image-name', '../escape.img'], /^osb: --image-name '\.\.\/escape\.img' holds a '\/': it must be a file name in the workdir, not a path$/],
    ['an absolute path', ['image', '--image-name', '/tmp/osb-escape.img'], /^osb: --image-name '\/tmp\/osb-escape\.img' holds a '\/'/],
    ['..', ['initrd', '--initrd-name', '..'], /^osb: --initrd-name '\.\.' is a directory name/],
    ['a subdirectory', ['initrd', '--initrd-name', 'boot/initrd.img'], /^osb: --initrd-name 'boot\/initrd\.img' holds a '\/'/],
    ["osb's internal names", ['image', '--image-name', '.osb-owned'], /^osb: --image-name '\.osb-owned' starts with '\.osb', which osb keeps for its own files/],
    ["another output's name", ['image', '--image-name', 'rootfs.manifest.json'], /^osb: --image-name 'rootfs\.manifest\.json' would replace osb's own rootfs\.manifest\.json in the workdir$/],
    ['the image given as the initrd', ['initrd', '--initrd-name', 'osb.img'], /^osb: --initrd-name 'osb\.img' would replace the image \(--image-name osb\.img\) in the workdir$/],
  ])('%s: exit 2, one line, nothing written or deleted', (_what, args, message) => {
    const wd = usedWorkdir();
    const before = listing(dirname(wd));
    oneLine(osb([...args, '--workdir', wd, '--no-deps', '--rootfs-dir', rootfs]), 2, message);
    expect(listing(dirname(wd))).toBe(before);
    expect(existsSync('/tmp/osb-escape.img')).toBe(false);
  });

  test('from the environment and osb.yaml too; an empty name in osb.yaml is refused', () => {
    const wd = usedWorkdir();
    oneLine(osb(['image', '--workdir', wd], { env: cleanEnv({ OSB_IMAGE_NAME: '../x.img' }) }), 2, /^osb: OSB_IMAGE_NAME '\.\.\/x\.img' holds a '\/'/);
    const dir = tempDir('osb-refuse-yaml-');
    writeFileSync(join(dir, 'osb.yaml'), 'image_name: ""\n');
    oneLine(osb(['image', '--workdir', wd], { cwd: dir }), 2, /^osb: osb\.yaml:1: image_name '' is empty: it must be a file name/);
    expect(readdirSync(wd).sort()).toEqual(['.osb', 'notes.txt', 'osb.img']);
  });
});

describe('item 3: no artefact of a tree that is not an OS', () => {
  const notOs = () => {
    const t = tempDir('osb-refuse-tree-');
    mkdirSync(join(t, 'etc'));
    writeFileSync(join(t, 'etc', 'hostname'), 'x\n');
    return t;
  };

  test.each(['image', 'initrd', 'oci', 'squashfs', 'bundle'])('osb %s --no-deps of an empty tree, or one with no init and no os-release: exit 2, one line naming what is missing', (target) => {
    for (const [tree, lacks] of [[tempDir('osb-refuse-empty-'), /it is empty$/], [notOs(), /it has no init \(an executable \/sbin\/init or \/init\) and no \/etc\/os-release or \/usr\/lib\/os-release/]] as const) {
      const wd = usedWorkdir();
      const before = listing(wd);
      const r = osb([target, '--no-deps', '--rootfs-dir', tree, '--workdir', wd]);
      oneLine(r, 2, new RegExp(`^osb: refusing to make an? (image|initrd|OCI image|squashfs|bundle) of ${tree}: ${lacks.source}`));
      expect(r.stderr).toMatch(/--allow-empty/);
      expect(listing(wd)).toBe(before);
    }
  });

  test('the rule: an executable init reached inside the tree (symlinks resolved there, not on the host), and an os-release', () => {
    const t = tempDir('osb-refuse-rule-');
    mkdirSync(join(t, 'usr/lib/systemd'), { recursive: true });
    mkdirSync(join(t, 'usr/sbin'), { recursive: true });
    execFileSync('ln', ['-s', 'usr/sbin', join(t, 'sbin')]);
    // /sbin/init -> /lib/systemd/systemd, absolute: it means the tree's, and /lib is missing.
    execFileSync('ln', ['-s', '/lib/systemd/systemd', join(t, 'usr/sbin/init')]);
    writeFileSync(join(t, 'usr/lib/os-release'), 'ID=test\n');
    expect(missingFromTree(t)).toMatch(/^has no init/);
    execFileSync('ln', ['-s', 'usr/lib', join(t, 'lib')]);
    writeFileSync(join(t, 'usr/lib/systemd/systemd'), '#!/bin/sh\n', { mode: 0o644 });
    expect(missingFromTree(t)).toMatch(/^has no init/); // not executable
    execFileSync('chmod', ['755', join(t, 'usr/lib/systemd/systemd')]);
    expect(missingFromTree(t)).toBeUndefined();
    expect(statInTree(t, '/sbin/../sbin/init')?.isFile()).toBe(true);
    // A link that climbs out stops at the tree's root, as it would in the guest.
    execFileSync('ln', ['-s', '../../../../../../etc/os-release', join(t, 'outside')]);
    expect(statInTree(t, '/outside')).toBeUndefined();
  });

  test('a tree made for --toolbox needs a shell, not an init, and only where it is entered: oci and bundle take it, image and initrd refuse it', () => {
    const t = tempDir('osb-refuse-shell-');
    mkdirSync(join(t, 'bin'));
    mkdirSync(join(t, 'etc'));
    writeFileSync(join(t, 'etc/os-release'), 'ID=test\n');
    expect(missingFromTree(t, { container: true })).toBe('has no shell (an executable /bin/sh)');
    execFileSync('cp', ['/bin/busybox', join(t, 'bin/sh')]);
    expect(missingFromTree(t, { container: true })).toBeUndefined();
    expect(missingFromTree(t)).toMatch(/^has no init/);
    for (const target of ['oci', 'bundle']) {
      const wd = tempDir('osb-refuse-shell-wd-');
      const r = osb([target, '--no-deps', '--toolbox', '--rootfs-dir', t, '--workdir', wd]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    for (const target of ['image', 'initrd']) {
      const wd = tempDir('osb-refuse-shell-wd-');
      const before = listing(wd);
      oneLine(osb([target, '--no-deps', '--toolbox', '--rootfs-dir', t, '--workdir', wd]), 2, new RegExp(`^osb: refusing to make an? (image|initrd) of ${t}: it has no init `));
      expect(listing(wd)).toBe(before);
    }
  });

  test('--allow-empty builds it anyway, for those who mean it; it is per run (not remembered)', () => {
    const wd = tempDir('osb-refuse-allow-');
    const tree = tempDir('osb-refuse-allow-tree-');
    const r = osb(['oci', '--no-deps', '--rootfs-dir', tree, '--workdir', wd, '--allow-empty']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(join(wd, 'osb-oci.tar'))).toBe(true);
    oneLine(osb(['oci', '--no-deps', '--rootfs-dir', tree, '--workdir', wd, '--force']), 2, /^osb: refusing to make an OCI image of .*: it is empty$/);
  });

  (isRoot ? test : test.skip)('a rootfs built on a parent that is no OS is refused before it replaces the previous one', () => {
    const wd = tempDir('osb-refuse-parent-');
    const base = execFileSync('tar', ['-c', '--numeric-owner', '-C', rootfs, '.'], { maxBuffer: 256 << 20 });
    const good = join(wd, 'good.tar');
    craftOciArchive(join(tempDir('osb-refuse-layout-'), 'l'), good, [base]);
    const built = osb(['rootfs', '--workdir', wd, '--parent', `oci-archive:${good}`, '--agent-init']);
    if (built.code !== 0) throw new Error(built.stderr);
    const before = listing(join(wd, 'rootfs'));
    // A parent of files only: no init of its own, and no systemd to be one (osb's osbuilder.yaml says what it is).
    const bare = join(wd, 'bare.tar');
    craftOciArchive(join(tempDir('osb-refuse-layout-'), 'l'), bare, [[{ name: 'etc', type: 'dir' }, { name: 'etc/motd', data: 'hi\n' }]]);
    const r = osb(['rootfs', '--workdir', wd, '--parent', `oci-archive:${bare}`, '--no-agent-init']);
    oneLine(r, 1, new RegExp(`^osb: rootfs failed: refusing to make the rootfs ${wd}/rootfs: the tree built on --parent oci-archive:${bare} has no init \\(an executable /sbin/init or /init\\)$`));
    expect(r.stderr).toMatch(/--agent-init/);
    expect(listing(join(wd, 'rootfs'))).toBe(before);
    expect(readdirSync(wd).filter((n) => /osb-(stage|tmp)/.test(n))).toEqual([]);
  });
});

describe('item 4: every value against its grammar, before any work', () => {
  let wd: string;
  let layout: string;
  beforeAll(() => {
    wd = tempDir('osb-refuse-oci-');
    const r = osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd]);
    if (r.code !== 0) throw new Error(r.stderr);
    layout = listing(wd);
  });

  test.each([
    ['a tag with a space', ['publish', '--publish-registry', 'localhost:5000/guests/osb', '--tag', 'bad tag'], /^osb: --tag: invalid tag 'bad tag'$/],
    ['a tag starting with a dot', ['publish', '--publish-registry', 'localhost:5000/guests/osb', '--tag', '.v1'], /^osb: --tag: invalid tag '\.v1'$/],
    ['a mount-from repository in upper case', ['publish', '--publish-registry', 'localhost:5000/guests/osb', '--registry-mount-from', 'Base/Img'], /^osb: --registry-mount-from: invalid repository 'Base\/Img'$/],
    ['a registry repository with a tag', ['publish', '--publish-registry', 'localhost:5000/guests/osb:1'], /^osb: --publish-registry must be HOST\[:PORT\]\/REPO; got 'localhost:5000\/guests\/osb:1'/],
    ['a label key with a space', ['oci', '--label', 'a b=c'], /^osb: --label 'a b=c': the key 'a b' may hold only letters, digits and \. _ \/ - \(no spaces\)$/],
    ['an annotation with an empty key', ['oci', '--annotation', '=x'], /^osb: --annotation expects KEY=VALUE; got '=x'$/],
    ['a --cache-from that is no reference', ['oci', '--cache-from', 'not a ref!'], /^osb: --cache-from must be HOST\[:PORT\]\/REPO; got 'not a ref!'$/],
    ['a --cache-to with a bad port', ['oci', '--cache-to', 'localhost:99999/cache'], /^osb: --cache-to must be HOST\[:PORT\]\/REPO; got 'localhost:99999\/cache'$/],
    ['a --parent docker:// with a bad repository', ['oci', '--parent', 'docker://reg.example.org/Guests/base:1'], /^osb: --parent 'docker:\/\/reg\.example\.org\/Guests\/base:1' is not docker:\/\/HOST\[:PORT\]\/REPO\[:TAG\|@DIGEST\]/],
    ['a --parent docker:// with a bad tag', ['oci', '--parent', 'docker://reg.example.org/guests/base:-1'], /^osb: --parent 'docker:\/\/reg\.example\.org\/guests\/base:-1' is not .*a tag is 1 to 128/],
    ['an --oci-ref in upper case', ['oci', '--oci-ref', 'Local/OSB:1'], /^osb: invalid image reference 'Local\/OSB:1'/],
  ])('%s: exit 2, one line; the OCI layout already there is byte for byte as it was', (_what, args, message) => {
    oneLine(osb([...args, '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd]), 2, message);
    expect(listing(wd)).toBe(layout);
  });

  test('OSB_PUBLISH_TAGS is one tag per line (as OSB_LABELS is one label per line)', async () => {
    const p = await parseCommandLine(['publish'], { OSB_PUBLISH_TAGS: 'v1\nlatest\n' }, wd);
    expect(p.settings.tag).toEqual(['v1', 'latest']);
    await expect(parseCommandLine(['publish'], { OSB_PUBLISH_TAGS: 'v1 latest' }, wd)).rejects.toThrow(/^OSB_PUBLISH_TAGS: invalid tag 'v1 latest'$/);
  });
});

describe('the smaller ones', () => {
  test('--registry-ca that is not PEM, or missing: exit 2, one line, before any work', () => {
    const wd = tempDir('osb-refuse-ca-');
    const der = join(wd, 'ca.der');
    writeFileSync(der, Buffer.from([0x30, 0x82, 0x01, 0x0a, 0x02, 0x82]));
    oneLine(osb(['publish', '--publish-registry', 'localhost:5000/a', '--registry-ca', der, '--workdir', wd]), 2, /^osb: --registry-ca \S+ca\.der is not a PEM certificate \(no -----BEGIN CERTIFICATE----- line\)$/);
    oneLine(osb(['publish', '--publish-registry', 'localhost:5000/a', '--registry-ca', join(wd, 'none.pem'), '--workdir', wd]), 2, /^osb: --registry-ca \S+none\.pem cannot be read \(ENOENT\)$/);
    expect(readdirSync(wd)).toEqual(['ca.der']);
  });

  test("--arch arm64 and amd64, Debian's names, are aarch64 and x86_64", async () => {
    expect((await parseCommandLine(['rootfs', '--arch', 'arm64'], {}, tempDir())).settings.arch).toBe('aarch64');
    expect((await parseCommandLine(['rootfs'], { ARCH: 'amd64' }, tempDir())).settings.arch).toBe('x86_64');
    const r = osb(['config', '--arch', 'arm64', '--workdir', tempDir()]);
    expect(r.stdout).toMatch(/^--arch +aarch64 +flag --arch$/m);
  });

  test.each([
    ['extra_pkgs', 'extra_pkgs: [curl]\n', /^osb: osb\.yaml:1: unknown key 'extra_pkgs'; did you mean 'packages'\? \(osb\.yaml's name for --extra-pkgs\)$/],
    ['hook', 'hook: ./x.sh\n', /^osb: osb\.yaml:1: unknown key 'hook'; did you mean 'hooks'\?/],
    ['an alias of no anchor', 'distro: *nope\n', /^osb: osb\.yaml:1: distro: \*nope is an alias of no anchor/],
  ])('osb.yaml %s: one line with the suggestion, exit 2', (_what, yaml, message) => {
    const dir = tempDir('osb-refuse-yaml-');
    writeFileSync(join(dir, 'osb.yaml'), yaml);
    oneLine(osb(['config'], { cwd: dir }), 2, message);
  });

  test('a YAML alias is the value of its anchor, lists too', () => {
    const dir = tempDir('osb-refuse-yaml-');
    writeFileSync(join(dir, 'osb.yaml'), 'os_version: &rel bookworm\ns3_prefix: *rel\npublish_tags: &tags [v1, latest]\npackages: *tags\n');
    const r = osb(['config', '--json'], { cwd: dir });
    expect(r.stderr).toBe('');
    const { settings } = JSON.parse(r.stdout) as { settings: Record<string, { value: unknown; source: string }> };
    expect(settings.s3Prefix).toEqual({ value: 'bookworm', source: 'osb.yaml:2' });
    expect(settings.extraPkgs).toEqual({ value: ['v1', 'latest'], source: 'osb.yaml:4' });
  });
});
