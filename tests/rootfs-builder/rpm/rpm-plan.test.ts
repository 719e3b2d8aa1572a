/**
 * The RPM engines' plans without a build: the exact dnf and zypper lines --dry-run prints (and
 * that nothing is written or fetched), the repository files osb writes instead of the host's,
 * which releases are refused and why, and the one-line reasons read from dnf's and zypper's output.
 */
import { describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDistro } from '../../../distros/index.js';
import { refusalReason } from '../../../rootfs-builder/engines/rpm/common.js';
import { dnfConf, repoFile } from '../../../rootfs-builder/engines/rpm/dnf.js';
import { zyppConf, zypperRefusal } from '../../../rootfs-builder/engines/rpm/zypper.js';
import { builtinKeysRoot } from '../../../rootfs-builder/engines/apk/keys.js';
import { parseRepos } from '../../../tasks/targets/rootfs.js';
import { osb } from '../../helpers/cli.js';

const keys = (d: string) => join(builtinKeysRoot(), d);

function dry(args: readonly string[]) {
  const wd = mkdtempSync(join(tmpdir(), 'osb-rpm-dry-'));
  rmSync(wd, { recursive: true });
  try {
    const r = osb(['rootfs', '--dry-run', '--workdir', wd, ...args]);
    return { ...r, wrote: existsSync(wd), wd };
  } finally {
    rmSync(wd, { recursive: true, force: true });
  }
}

describe('--dry-run shows the exact line and writes nothing', () => {
  test('fedora: dnf with osb config, the metalink, the pinned key; nothing written', () => {
    const r = dry(['--distro', 'fedora', '--agent-init']);
    expect(r.code).toBe(0);
    expect(r.wrote).toBe(false);
    expect(r.stdout).toMatch(
      /would run: dnf --assumeyes --config=\/tmp\/osb-dnf-\d+\/dnf\.conf --installroot=\S+\/\.rootfs\.osb-stage-\d+ --releasever=44 --setopt=reposdir=\S+ --setopt=varsdir=\S+ --noplugins --setopt=install_weak_deps=False --nodocs --best install bash coreutils filesystem util-linux-core\n/,
    );
    expect(r.stdout).toContain('metalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-44&arch=x86_64');
    expect(r.stdout).toContain(`gpgkey=file://${keys('fedora')}/RPM-GPG-KEY-fedora-44-primary`);
    expect(r.stdout).toMatch(/would run with the environment PATH=\/usr\/sbin:\/usr\/bin:\/sbin:\/bin HOME=\/tmp\/osb-dnf-\d+\/home KERNEL_INSTALL_BYPASS=1/);
    expect(r.stdout).not.toContain('--nogpgcheck');
  });

  test('centos stream9 with --mirror: BaseOS and AppStream base URLs, repo_gpgcheck on, the EL9 database path', () => {
    const r = dry(['--distro', 'centos', '--os-version', 'stream9', '--agent-init', '--mirror', 'http://mirror.example/centos', '--package-groups', 'core']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('baseurl=http://mirror.example/centos/9-stream/BaseOS/x86_64/os/');
    expect(r.stdout).toContain('baseurl=http://mirror.example/centos/9-stream/AppStream/x86_64/os/');
    expect(r.stdout).not.toContain('repo_gpgcheck=0');
    expect(r.stdout).toContain('%_dbpath /var/lib/rpm');
    expect(r.stdout).toMatch(/--releasever=9-stream .* install bash coreutils filesystem util-linux-core @core\n/);
  });

  test('opensuse: rpm --import of the pinned keys, refresh --force, install --download-in-advance; never --gpg-auto-import-keys', () => {
    const r = dry(['--distro', 'opensuse', '--os-version', 'tumbleweed', '--agent-init', '--package-groups', 'base']);
    expect(r.code).toBe(0);
    expect(r.wrote).toBe(false);
    expect(r.stdout).toMatch(new RegExp(`would run: rpm --root \\S+ --dbpath /usr/lib/sysimage/rpm --import ${keys('opensuse')}/RPM-GPG-KEY-openSUSE-2022\\n`));
    expect(r.stdout).toMatch(/would run: zypper --non-interactive --root \S+ --reposd-dir \S+ --cache-dir \S+ --config \S+ --releasever tumbleweed refresh --force\n/);
    expect(r.stdout).toMatch(/--no-refresh install --no-recommends --download-in-advance bash coreutils filesystem util-linux 'pattern\(\) = base'\n/);
    expect(r.stdout).toContain('repo-oss=https://download.opensuse.org/tumbleweed/repo/oss/');
    expect(r.stdout).toMatch(/ZYPP_CONF=\S+zypp\.conf ZYPP_LOGFILE=\/tmp\/osb-zypper-\d+\/zypper\.log ZYPP_LOCKFILE_ROOT=/);
    expect(r.stdout).not.toContain('gpg-auto-import-keys');
  });

  test('rocky 8 is refused: its rpm reads Berkeley DB, which the host rpm cannot write', () => {
    const r = dry(['--distro', 'rocky', '--os-version', '8', '--agent-init']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('rocky 8 keeps its rpm database in Berkeley DB, which the host\'s rpm cannot write (Debian\'s rpm 4.18 writes sqlite only)');
    expect(r.stderr).toContain('osb: hint: build a release whose rpm reads sqlite: 9, 10');
  });

  test('clearlinux is refused without --allow-unsigned, planned with it', () => {
    expect(dry(['--distro', 'clearlinux', '--agent-init']).stderr).toContain("clearlinux's packages are not signed, so osb cannot verify them");
    const r = dry(['--distro', 'clearlinux', '--agent-init', '--allow-unsigned']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('baseurl=https://cdn.download.clearlinux.org/current/x86_64/os/');
    expect(r.stdout).toContain('gpgcheck=0');
  });

  test('a --keys-dir file that is not an armored key is refused', () => {
    const r = dry(['--distro', 'fedora', '--agent-init', '--keys-dir', join(builtinKeysRoot(), 'ubuntu')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/osb: (rootfs failed: )?--keys-dir file \S+ is not an armored OpenPGP public key/);
  });
});

describe('configuration osb writes (never the host dnf.conf)', () => {
  test('dnf.conf: signatures on, a failing repository fails the build, no plugins', () => {
    const conf = dnfConf();
    for (const line of ['gpgcheck=1', 'repo_gpgcheck=1', 'localpkg_gpgcheck=1', 'skip_if_unavailable=0', 'plugins=0']) expect(conf.split('\n')).toContain(line);
  });
  test('repo file: each repository pins its keys by file', () => {
    const text = repoFile([{ id: 'x', baseurl: 'http://h/x/', keys: ['/k/A', '/k/B'], gpgcheck: true, repoGpgcheck: true }]);
    expect(text).toContain('gpgkey=file:///k/A file:///k/B');
    expect(text).toContain('repo_gpgcheck=1');
  });
  test('zypp.conf: every check on', () => {
    for (const line of ['gpgcheck = on', 'repo_gpgcheck = on', 'pkg_gpgcheck = on']) expect(zyppConf().split('\n')).toContain(line);
  });
  test('every RPM distro with --mirror gets repo_gpgcheck on its repositories', () => {
    for (const name of ['fedora', 'centos', 'rocky', 'openeuler', 'azurelinux', 'opensuse']) {
      const d = getDistro(name);
      for (const r of d.rpm!.repositories('http://m/', d.defaultRelease, 'x86_64')) expect(r.baseurl).toMatch(/^http:\/\/m\//);
    }
  });
});

describe('one clear line from the tools', () => {
  test.each([
    ['Package osb-extra-1.0-1.noarch.rpm is not signed', 'osb-extra-1.0-1.noarch is not signed: refused'],
    ['Public key for osb-extra-1.0-1.noarch.rpm is not installed. Failing package is: osb-extra', 'osb-extra-1.0-1.noarch is signed by a key osb does not trust: refused'],
    ["Error: Failed to download metadata for repo 'osb': repomd.xml GPG signature verification error: Bad GPG signature", "the repomd.xml of repository 'osb' does not verify against the keys osb trusts: refused"],
  ])('dnf: %s', (out, line) => expect(refusalReason(out)).toBe(line));
  test.each([
    ['osb-extra-1.0-1.noarch (osb): Signature verification failed [6-File is unsigned]', 'osb-extra-1.0-1.noarch is not signed: refused'],
    ['osb-extra-1.0-1.noarch (osb): Signature verification failed [4-Signatures public key is not available]', 'osb-extra-1.0-1.noarch is signed by a key osb does not trust: refused'],
    ["Signature verification failed for file 'repomd.xml' ... modified after it has been signed\nRepository 'osb' is invalid.", "the repomd.xml of repository 'osb' was changed after it was signed: refused"],
  ])('zypper: %s', (out, line) => expect(zypperRefusal(out)).toBe(line));
});

describe('--repo URL,KEYFILE', () => {
  test('pairs each URL with its key, whether or not the value was split at the comma', () => {
    expect(parseRepos(['http://a/r/,/k/a', 'https://b/,/k/b'])).toEqual([{ url: 'http://a/r/', key: '/k/a' }, { url: 'https://b/', key: '/k/b' }]);
    expect(parseRepos(['http://a/r/', '/k/a'])).toEqual([{ url: 'http://a/r/', key: '/k/a' }]);
  });
  test('a URL without a key is refused', () => {
    expect(() => parseRepos(['http://a/r/'])).toThrow("--repo must be URL,KEYFILE; got 'http://a/r/'");
  });
});

describe('osb check-deps rootfs for the RPM distros', () => {
  test.each([
    ['fedora', 'dnf'],
    ['opensuse', 'zypper'],
  ])('%s needs %s, rpm and root (not mmdebstrap)', (distro, tool) => {
    const r = osb(['check-deps', 'rootfs', '--distro', distro, '--json']);
    const checks = JSON.parse(r.stdout).checks as Array<{ name: string; ok: boolean; packages?: { debian: string } }>;
    expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining([tool, 'rpm', 'root']));
    expect(checks.map((c) => c.name)).not.toContain('mmdebstrap');
    expect(checks.find((c) => c.name === tool)!.packages!.debian).toBe(tool); // what --install installs
  });
});

describe('the RPM distros as data', () => {
  const rpmDistros = ['fedora', 'centos', 'rocky', 'openeuler', 'azurelinux', 'opensuse', 'clearlinux'];
  test('osb list-distros lists every one with its default release', () => {
    const r = osb(['list-distros']);
    for (const d of rpmDistros) expect(r.stdout).toMatch(new RegExp(`^\\s*${d}\\b.*${getDistro(d).defaultRelease.replace(/\./g, '\\.')}`, 'm'));
  });
  test('without --mirror: the official archive over HTTPS, a metalink where the distro uses one', () => {
    for (const d of rpmDistros.map(getDistro)) {
      for (const r of d.releases) {
        for (const repo of d.rpm!.repositories(undefined, r, 'x86_64')) expect(repo.metalink ?? repo.baseurl).toMatch(/^https:\/\//);
      }
    }
    expect(getDistro('fedora').rpm!.repositories(undefined, '44', 'x86_64').every((r) => r.metalink)).toBe(true);
    expect(getDistro('centos').rpm!.repositories(undefined, 'stream10', 'x86_64').every((r) => r.metalink)).toBe(true);
  });
  test('variants extend their base: centos, rocky, openeuler, azurelinux and clearlinux use dnf as fedora does; opensuse zypper', () => {
    for (const d of ['centos', 'rocky', 'openeuler', 'azurelinux', 'clearlinux']) expect(getDistro(d).engine).toBe(getDistro('fedora').engine);
    expect(getDistro('opensuse').engine).toBe('zypper');
  });
});

describe("image-build's steps in --dry-run, in image-build's order", () => {
  test('repos, modules, groups and packages, remove_packages, copyfiles, cmds: each shown, nothing written or fetched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'osb-ib-dry-'));
    try {
      writeFileSync(join(dir, 'a.conf'), 'a\n');
      writeFileSync(
        join(dir, 'ib.yaml'),
        `options:\n  layer_type: 'base'\n  name: 'x'\n  pkg_manager: 'dnf'\nrepos:\n  - alias: 'base'\n    url: 'http://mirror.invalid/os/'\n    gpg: 'http://mirror.invalid/KEY'\nmodules:\n  enable: ['nodejs:18']\npackage_groups: ['Minimal Install']\npackages: [kernel]\nremove_packages: [alma-repos]\ncopyfiles:\n  - src: 'a.conf'\n    dest: '/etc/a.conf'\ncmds:\n  - 'echo hi'\n`,
      );
      const wd = join(dir, 'wd');
      const r = osb(['build', '--dry-run', '--config', join(dir, 'ib.yaml'), '--workdir', wd, '--os-version', '9']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(existsSync(wd)).toBe(false);
      const at = (re: RegExp) => {
        const m = re.exec(r.stdout);
        expect(m).not.toBeNull();
        return m!.index;
      };
      const order = [
        at(/would fetch http:\/\/mirror\.invalid\/KEY once/),
        at(/baseurl=http:\/\/mirror\.invalid\/os\//),
        at(/would run: dnf .* module enable nodejs:18\n/),
        at(/would run: dnf .* install bash coreutils filesystem kernel util-linux-core '@Minimal Install'\n/),
        at(/would run: dnf .* --setopt=clean_requirements_on_remove=True remove alma-repos\n/),
        at(/copying \S+\/a\.conf to \/etc\/a\.conf/),
        at(/would run chrooted in the rootfs \(its bash -c, else sh -c\): echo hi/),
      ];
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      // Only the file's repositories: no Rocky mirror.
      expect(r.stdout).not.toMatch(/rockylinux\.org/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
