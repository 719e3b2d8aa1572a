/**
 * osb sysext: a systemd system extension of a tree, for the workdir's rootfs as its base.
 * systemd-dissect (systemd 252) is the oracle for what systemd makes of the image: a system
 * extension whose extension-release matches the base's ID and VERSION_ID. The content is read
 * back with the file system's own tools (fsck.erofs --extract, unsquashfs -l).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';

let dir: string;
let base: string;
let tree: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-sysext-test-'));
  base = join(dir, 'base');
  mkdirSync(join(base, 'usr/lib'), { recursive: true });
  mkdirSync(join(base, 'etc'));
  writeFileSync(join(base, 'usr/lib/os-release'), 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n');
  symlinkSync('../usr/lib/os-release', join(base, 'etc/os-release'));
  tree = join(dir, 'tree');
  mkdirSync(join(tree, 'usr/bin'), { recursive: true });
  writeFileSync(join(tree, 'usr/bin/hello'), '#!/bin/sh\necho hello from the extension\n');
  chmodSync(join(tree, 'usr/bin/hello'), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sysext(extra: string[], t = tree) {
  const wd = join(dir, `wd${n++}`);
  const r = osb(['sysext', '--no-deps', '--rootfs-dir', base, '--sysext-tree', t, '--sysext-name', 'hello', '--workdir', wd, ...extra], { env: cleanEnv({ SOURCE_DATE_EPOCH: '1700000000' }) });
  return { ...r, wd, raw: join(wd, 'hello.raw') };
}

function dissect(img: string): { useSystemExtension: boolean; extensionRelease?: string[]; mounts: Array<{ fstype: string }> } {
  return JSON.parse(execFileSync('systemd-dissect', ['--json=short', img], { encoding: 'utf8' }));
}

describe('osb sysext', () => {
  test.each(['erofs', 'squashfs'])('%s: systemd-dissect takes it as a system extension for the base\'s ID and VERSION_ID, with the tree\'s files', (fs) => {
    const r = sysext(['--sysext-fs', fs]);
    expect(r.code).toBe(0);
    const d = dissect(r.raw);
    expect(d.useSystemExtension).toBe(true);
    expect(d.extensionRelease).toEqual(['ID=debian', 'VERSION_ID=12']);
    expect(d.mounts[0]!.fstype).toBe(fs);
    if (fs === 'erofs') {
      const out = join(r.wd, 'x');
      execFileSync('fsck.erofs', [`--extract=${out}`, r.raw]);
      expect(readFileSync(join(out, 'usr/bin/hello'), 'utf8')).toContain('hello from the extension');
      expect(readdirSync(join(out))).toEqual(['usr']);
    } else {
      const list = execFileSync('unsquashfs', ['-lls', r.raw], { encoding: 'utf8' });
      expect(list).toMatch(/-rwxr-xr-x .*squashfs-root\/usr\/bin\/hello\n/);
      expect(list).toContain('squashfs-root/usr/lib/extension-release.d/extension-release.hello');
    }
    // The user's tree is not written.
    expect(existsSync(join(tree, 'usr/lib'))).toBe(false);
  });

  test('two builds of the same tree and base give the same bytes', () => {
    const a = sysext([]);
    const b = sysext([]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(readFileSync(a.raw).equals(readFileSync(b.raw))).toBe(true);
  });

  test('a tree with files outside /usr and /opt is refused in one line, and no image is left', () => {
    const bad = join(dir, 'bad-tree');
    mkdirSync(join(bad, 'usr/bin'), { recursive: true });
    mkdirSync(join(bad, 'etc'));
    writeFileSync(join(bad, 'etc/motd'), 'x\n');
    const r = sysext([], bad);
    expect(r.code).not.toBe(0);
    expect(errorLine(r.stderr)).toMatch(/holds \/etc: a system extension carries \/usr and \/opt only/);
    expect(existsSync(r.raw)).toBe(false);
  });

  test('a tree carrying its own os-release, or no --sysext-name, is refused', () => {
    const bad = join(dir, 'osrel-tree');
    mkdirSync(join(bad, 'usr/lib'), { recursive: true });
    writeFileSync(join(bad, 'usr/lib/os-release'), 'ID=other\n');
    const r = sysext([], bad);
    expect(r.code).not.toBe(0);
    expect(errorLine(r.stderr)).toMatch(/carries \/usr\/lib\/os-release/);
    const noName = osb(['sysext', '--no-deps', '--rootfs-dir', base, '--sysext-tree', tree, '--workdir', join(dir, 'noname')]);
    expect(noName.code).not.toBe(0);
    expect(noName.stderr).toMatch(/needs a name for the extension/);
  });
  test('a tree whose usr/lib or release file is a link out of it is refused, and nothing is written there', () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    const linked = join(dir, 'linked-tree');
    mkdirSync(join(linked, 'usr'), { recursive: true });
    symlinkSync(outside, join(linked, 'usr/lib'));
    const r = sysext([], linked);
    expect(r.code).not.toBe(0);
    expect(errorLine(r.stderr)).toMatch(/has \/usr\/lib as a symbolic link/);
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(r.raw)).toBe(false);

    // The release file itself as a link: replaced in the copy, the target left alone.
    const victim = join(outside, 'victim');
    writeFileSync(victim, 'keep\n');
    const t3 = join(dir, 'release-link-tree');
    mkdirSync(join(t3, 'usr/lib/extension-release.d'), { recursive: true });
    symlinkSync(victim, join(t3, 'usr/lib/extension-release.d/extension-release.hello'));
    const ok = sysext([], t3);
    expect(ok.code).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('keep\n');
    expect(dissect(ok.raw).extensionRelease).toEqual(['ID=debian', 'VERSION_ID=12']);
  });

  test('a changed file in the tree, or a new VERSION_ID in the base, rebuilds; nothing changed does not', () => {
    const b2 = join(dir, 'base2');
    mkdirSync(join(b2, 'usr/lib'), { recursive: true });
    writeFileSync(join(b2, 'usr/lib/os-release'), 'ID=debian\nVERSION_ID=12\n');
    const t2 = join(dir, 'tree2');
    mkdirSync(join(t2, 'usr/bin'), { recursive: true });
    writeFileSync(join(t2, 'usr/bin/tool'), 'one\n');
    const wd = join(dir, 'rebuild');
    const run = () => osb(['sysext', '--no-deps', '--rootfs-dir', b2, '--sysext-tree', t2, '--sysext-name', 'tool', '--workdir', wd]);
    expect(run().code).toBe(0);
    const again = run();
    expect(again.stdout + again.stderr).toMatch(/sysext \[SKIPPED: up to date\]/);
    writeFileSync(join(t2, 'usr/bin/tool'), 'two\n');
    const changed = run();
    expect(changed.code).toBe(0);
    expect(changed.stdout + changed.stderr).not.toMatch(/up to date/);
    writeFileSync(join(b2, 'usr/lib/os-release'), 'ID=debian\nVERSION_ID=13\n');
    const r = run();
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/up to date/);
    expect(dissect(join(wd, 'tool.raw')).extensionRelease).toEqual(['ID=debian', 'VERSION_ID=13']);
  });
});

describe('osb sysext --measured-rootfs', () => {
  test('a tree with /opt: one line, exit 2 (a /usr partition cannot hold it)', () => {
    const t = join(dir, 'with-opt');
    mkdirSync(join(t, 'usr/bin'), { recursive: true });
    mkdirSync(join(t, 'opt'));
    const r = sysext(['--measured-rootfs'], t);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe(`osb: the extension tree ${t} holds /opt, and a measured extension is a /usr partition (the discoverable partitions spec has none for /opt)`);
    expect(existsSync(r.raw)).toBe(false);
  });

  test.each(['erofs', 'squashfs'])("%s: a GPT DDI of /usr and its usr-verity partition (the arch's DPS types, UUIDs the halves of NAME.usrhash), which veritysetup verifies and systemd-dissect pairs; the same bytes twice", (fs) => {
    const r = sysext(['--sysext-fs', fs, '--measured-rootfs']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const hash = readFileSync(join(r.wd, 'hello.usrhash'), 'utf8');
    expect(hash).toMatch(/^[0-9a-f]{64}\n$/);
    const t = JSON.parse(execFileSync('sfdisk', ['--json', r.raw], { encoding: 'utf8' })) as { partitiontable: { label: string; partitions: { start: number; size: number; type: string; uuid: string }[] } };
    expect(t.partitiontable.label).toBe('gpt');
    const [usr, verity] = t.partitiontable.partitions;
    const x86 = process.arch === 'x64';
    expect(usr!.type).toBe(x86 ? '8484680C-9521-48C6-9C11-B0720656F69E' : 'B0E01050-EE5F-4390-949A-9101B17104E9');
    expect(verity!.type).toBe(x86 ? '77FF5F63-E7B6-4633-ACF4-1565B864C0E6' : '6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E');
    expect((usr!.uuid + verity!.uuid).replace(/-/g, '').toLowerCase()).toBe(hash.trim());
    // The partitions as files: veritysetup reads the superblock systemd opens the partition with.
    const part = (p: { start: number; size: number }, name: string) => {
      const out = join(r.wd, name);
      execFileSync('dd', [`if=${r.raw}`, `of=${out}`, 'bs=1M', `skip=${p.start * 512}`, `count=${p.size * 512}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
      return out;
    };
    execFileSync('veritysetup', ['verify', part(usr!, 'p1'), part(verity!, 'p2'), hash.trim()]);
    // A /usr partition holds /usr itself: its root has lib/ and bin/, no usr/.
    const list = fs === 'erofs' ? (execFileSync('fsck.erofs', [`--extract=${join(r.wd, 'x')}`, join(r.wd, 'p1')]), execFileSync('find', [join(r.wd, 'x'), '-printf', '%P\\n'], { encoding: 'utf8' })) : execFileSync('unsquashfs', ['-lls', '-d', '', join(r.wd, 'p1')], { encoding: 'utf8' });
    expect(list).toMatch(/(^|\s)\/?bin\/hello$/m);
    expect(list).toMatch(/(^|\s)\/?lib\/extension-release\.d\/extension-release\.hello$/m);
    expect(list).not.toMatch(/(^|\s)\/?usr\b/m);
    const d = JSON.parse(execFileSync('systemd-dissect', ['--json=short', r.raw], { encoding: 'utf8' })) as { mounts: { designator: string; fstype: string; verity: string | null }[] };
    expect(d.mounts.map((m) => [m.designator, m.fstype])).toEqual([['usr', fs], ['usr-verity', 'DM_verity_hash']]);
    expect(d.mounts[0]!.verity).toBe('yes');
    const again = sysext(['--sysext-fs', fs, '--measured-rootfs']);
    expect(readFileSync(again.raw).equals(readFileSync(r.raw))).toBe(true);
  });
});
