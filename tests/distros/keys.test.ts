/**
 * The signing keys osb ships for the RPM distros and Ubuntu: every file byte for byte as recorded
 * (SHA256SUMS beside them, with the source in README.md), every key a distro release names is
 * there, and Ubuntu's keyring is what `osb rootfs --distro ubuntu` uses on a host without one.
 */
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISTROS } from '../../distros/index.js';
import { ubuntu } from '../../distros/ubuntu.js';
import { builtinKeysRoot } from '../../rootfs-builder/engines/apk/keys.js';
import { archiveKeyring } from '../../rootfs-builder/engines/apt.js';
import { osb } from '../helpers/cli.js';

const root = builtinKeysRoot();
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const sums = (dir: string) => new Map(readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => [l.split('  ')[1]!, l.split('  ')[0]!]));

describe('shipped keys match their recorded sums', () => {
  const dirs = ['fedora', 'centos', 'rocky', 'openeuler', 'azurelinux', 'opensuse', 'ubuntu'];
  test.each(dirs)('%s: every key file is listed in SHA256SUMS and matches it, and README names the source', (d) => {
    const dir = join(root, d);
    const listed = sums(dir);
    const files = readdirSync(dir).filter((f) => f !== 'SHA256SUMS' && f !== 'README.md').sort();
    expect(files.length).toBeGreaterThan(0);
    expect([...listed.keys()].sort()).toEqual(files);
    for (const f of files) expect(sha256(join(dir, f))).toBe(listed.get(f));
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toMatch(d === 'ubuntu' ? /ubuntu-keyring_2023\.11\.28\.1-0\.2_all\.deb/ : /rpm-software-management\/distribution-gpg-keys[\s\S]*at commit [0-9a-f]{40}/);
    for (const f of files) expect(readme).toContain(f);
  });

  test('the recorded sums are the ones reviewed (a changed SHA256SUMS fails here too)', () => {
    // Pinned in the test as well, so a key and its sum cannot be replaced together unnoticed.
    expect(sums(join(root, 'fedora')).get('RPM-GPG-KEY-fedora-44-primary')).toBe('93642aec521a1e5e96dd715f7ae0ec0850ebc9de09a94ce03cae5263f26cc18a');
    expect(sums(join(root, 'opensuse')).get('RPM-GPG-KEY-openSUSE-2022')).toBe('fb8eb055898e61776ffbed12e361499f3289b5bcc04f0e83e30529bdfae7908f');
    expect(sums(join(root, 'ubuntu')).get('ubuntu-archive-keyring.gpg')).toBe('80a36b0a6de2f69f49d2df75ef473ccde121e9e190b9ea01d20a4f63778d5c31');
  });

  test('each key is the one its README names (gpg reads the key id)', () => {
    const ids = (f: string) => execFileSync('gpg', ['--show-keys', '--with-colons', f], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', GNUPGHOME: tmp } }).split('\n').filter((l) => l.startsWith('pub:')).map((l) => l.split(':')[4]);
    const tmp = mkdtempSync(join(tmpdir(), 'osb-gpg-'));
    try {
      expect(ids(join(root, 'fedora/RPM-GPG-KEY-fedora-44-primary'))).toEqual(['DBFCF71C6D9F90A6']);
      expect(ids(join(root, 'centos/RPM-GPG-KEY-CentOS-Official'))).toEqual(['05B555B38483C65D']);
      expect(ids(join(root, 'rocky/RPM-GPG-KEY-Rocky-9'))).toEqual(['702D426D350D275D']);
      expect(ids(join(root, 'azurelinux/MICROSOFT-RPM-GPG-KEY'))).toEqual(['0CD9FED33135CE90']);
      expect(ids(join(root, 'ubuntu/ubuntu-archive-keyring.gpg'))).toEqual(['3B4FE6ACC0B21F32', 'D94AA3F0EFE21092', '871920D1991BC93C']);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('every signed RPM distro release names keys that osb ships', () => {
    for (const d of DISTROS.filter((x) => x.rpm && !x.rpm.unsigned)) {
      for (const r of d.releases.filter((rel) => d.rpm!.rpmdb(rel).backend !== 'bdb')) {
        const keys = d.rpm!.keys(r);
        expect(keys.length).toBeGreaterThan(0);
        for (const k of keys) expect(existsSync(join(root, d.name, k))).toBe(true);
      }
    }
  });
});

describe("Ubuntu's archive keyring", () => {
  test("the host's keyring when it has one, else osb's shipped copy", () => {
    const dir = mkdtempSync(join(tmpdir(), 'osb-keyring-'));
    try {
      const host = join(dir, 'ubuntu-archive-keyring.gpg');
      expect(archiveKeyring({ distro: { ...ubuntu, keyring: host } })).toBe(join(root, 'ubuntu', 'ubuntu-archive-keyring.gpg'));
      writeFileSync(host, 'a host keyring');
      expect(archiveKeyring({ distro: { ...ubuntu, keyring: host } })).toBe(host);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('osb rootfs --distro ubuntu --dry-run shows the keyring it verifies the archive with', () => {
    const wd = mkdtempSync(join(tmpdir(), 'osb-ubuntu-dry-'));
    try {
      const r = osb(['rootfs', '--distro', 'ubuntu', '--dry-run', '--workdir', wd]);
      expect(r.code).toBe(0);
      const hostHas = existsSync('/usr/share/keyrings/ubuntu-archive-keyring.gpg');
      const keyring = hostHas ? '/usr/share/keyrings/ubuntu-archive-keyring.gpg' : join(root, 'ubuntu', 'ubuntu-archive-keyring.gpg');
      expect(r.stdout).toMatch(new RegExp(`would run: mmdebstrap .* --keyring=${keyring.replace(/[.]/g, '\\.')} .*noble`));
      if (!hostHas) expect(r.stdout).toContain(`this host has no /usr/share/keyrings/ubuntu-archive-keyring.gpg: using the copy osb ships, ${keyring}`);
      expect(readdirSync(wd)).toEqual([]);
    } finally {
      rmSync(wd, { recursive: true, force: true });
    }
  });
});
