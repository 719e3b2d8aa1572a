/**
 * Real-format, signed rpm-md repositories for the RPM tests and the bench (no mock of dnf, zypper
 * or rpm): rpmbuild packages holding Debian's static busybox, rpmsign with a test GPG key,
 * createrepo_c with a comps.xml group, a detached repomd.xml.asc and repomd.xml.key, and every
 * broken variant a mirror can serve. `serveRpmRepos` serves them on 127.0.0.1 under any
 * distro's path layout (…/repodata/X and …/NAME.rpm map to the variant's files).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { serveFiles, type Served } from './serve.js';

export interface RpmTestRepos {
  readonly root: string;
  /** Directory holding the trusted test key (for --keys-dir). */
  readonly keysDir: string;
  /** Armored key of the extra repository (for --repo URL,KEY). */
  readonly extraKey: string;
  /** Variant name → directory served at /NAME/. */
  readonly variants: readonly string[];
}

const RPMBUILD_DEFINES = (top: string) => [
  '--define', `_topdir ${top}`,
  '--define', 'debug_package %{nil}',
  '--define', '__os_install_post %{nil}',
  '--define', '_build_id_links none',
  '--define', '_binary_payload w2.gzdio',
];

function sh(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: env.HOME ?? '/nonexistent', LC_ALL: 'C.UTF-8', ...env } });
}

interface Key {
  readonly home: string;
  readonly id: string;
  readonly armored: string;
}

function makeKey(root: string, name: string): Key {
  const home = join(root, 'gpg', name);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  sh(['gpg', '--batch', '--passphrase', '', '--quick-gen-key', `${name} <${name}@example.invalid>`, 'rsa2048', 'sign', 'never'], env);
  const fpr = /^fpr:+([0-9A-F]+):/m.exec(sh(['gpg', '--batch', '--with-colons', '--list-keys'], env))![1]!;
  const armored = join(root, `RPM-GPG-KEY-${name}`);
  writeFileSync(armored, sh(['gpg', '--batch', '--armor', '--export', fpr], env));
  return { home, id: fpr, armored };
}

interface Spec {
  readonly name: string;
  readonly arch?: string;
  readonly body: string;
}

const SPECS: readonly Spec[] = [
  {
    name: 'filesystem',
    arch: 'x86_64',
    body: `Summary: directory layout with merged /usr
Provides: system-release(44)
%description
osb test filesystem
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/sbin %{buildroot}/usr/lib64 %{buildroot}/etc %{buildroot}/var/lib %{buildroot}/var/tmp %{buildroot}/tmp %{buildroot}/root %{buildroot}/proc %{buildroot}/sys %{buildroot}/dev %{buildroot}/run
ln -s usr/bin %{buildroot}/bin
ln -s usr/sbin %{buildroot}/sbin
ln -s usr/lib %{buildroot}/lib
ln -s usr/lib64 %{buildroot}/lib64
printf 'ID=osbtest\\nVERSION_ID=1.0\\nNAME="osb test"\\n' > %{buildroot}/etc/os-release
%files
%dir /usr/bin
%dir /usr/sbin
%dir /usr/lib64
%dir /etc
%dir /var/lib
%attr(1777,root,root) %dir /var/tmp
%attr(1777,root,root) %dir /tmp
%attr(0700,root,root) %dir /root
%dir /proc
%dir /sys
%dir /dev
%dir /run
/bin
/sbin
/lib
/lib64
/etc/os-release
`,
  },
  {
    name: 'busybox',
    arch: 'x86_64',
    body: `Summary: Debian's static busybox, standing in for bash, coreutils and util-linux
Requires(pre): filesystem
Provides: bash coreutils coreutils-single util-linux util-linux-core /bin/sh /usr/bin/sh
AutoReqProv: no
%description
osb test busybox
%install
mkdir -p %{buildroot}/usr/bin
cp /usr/bin/busybox %{buildroot}/usr/bin/busybox
ln -s busybox %{buildroot}/usr/bin/sh
%post
# Runs chrooted into the tree: make the applet links and record who ran it, and where.
/usr/bin/busybox --install -s
mkdir -p /var/lib/osb-test
. /etc/os-release
echo "busybox post: ID=$ID arg=$1 uid=$(id -u)" > /var/lib/osb-test/busybox-post
%files
/usr/bin/busybox
/usr/bin/sh
`,
  },
  { name: 'osb-extra', body: noarch('osb-extra', 'Requires: busybox') },
  // Stands in for the systemd variant's packages (the test checks which packages were asked for
  // and that the agent's unit is enabled; booting systemd needs the real one).
  { name: 'systemd', body: noarch('systemd', 'Requires: busybox\nProvides: systemd-udev udev') },
  { name: 'patterns-osb-tools', body: noarch('patterns-osb-tools', 'Requires: osb-extra\nProvides: pattern() = osb_tools\nProvides: pattern-visible()') },
  { name: 'osb-unsigned', body: noarch('osb-unsigned', '') },
  { name: 'osb-tampered', body: noarch('osb-tampered', '') },
  { name: 'osb-postmod', body: noarch('osb-postmod', '') },
  { name: 'osb-wrongkey', body: noarch('osb-wrongkey', '') },
];

/**
 * Tiny packages named as image-build's examples name theirs (kernel, wget, chrony, ...), a
 * dependency only one package needs (for remove_packages), and a package in two module streams.
 */
const KVER = '6.1.0-osbtest.x86_64';
const IMAGE_BUILD_SPECS: readonly Spec[] = [
  {
    name: 'kernel',
    body: `Summary: stands in for a distro kernel: /boot/vmlinuz-KVER and /lib/modules/KVER
BuildArch: noarch
Requires: busybox
%description
osb test kernel
%install
mkdir -p %{buildroot}/boot %{buildroot}/usr/lib/modules/${KVER}
echo 'osb test kernel ${KVER}' > %{buildroot}/boot/vmlinuz-${KVER}
echo 'kernel/osb.ko:' > %{buildroot}/usr/lib/modules/${KVER}/modules.dep
%posttrans
# As a distro kernel's scriptlets leave it (kernel-install, dracut): an initramfs beside the kernel.
echo 'osb test initramfs ${KVER}' > /boot/initramfs-${KVER}.img
%files
/boot/vmlinuz-${KVER}
/usr/lib/modules/${KVER}/modules.dep
`,
  },
  { name: 'wget', body: noarch('wget', 'Requires: busybox') },
  { name: 'chrony', body: noarch('chrony', 'Requires: busybox') },
  { name: 'make', body: noarch('make', 'Requires: busybox') },
  { name: 'alma-repos', body: noarch('alma-repos', '') },
  { name: 'osb-orphan-top', body: noarch('osb-orphan-top', 'Requires: osb-orphan-dep') },
  { name: 'osb-orphan-dep', body: noarch('osb-orphan-dep', '') },
];

/** The module osb-stream: streams 1 and 2, each with its own osb-modular. */
const MODULES_YAML = (rpms: Record<string, string>) =>
  ['1', '2']
    .map(
      (stream) => `---
document: modulemd
version: 2
data:
  name: osb-stream
  stream: "${stream}"
  version: 1
  context: 6c81f848
  arch: noarch
  summary: osb test module
  description: osb test module stream ${stream}
  license:
    module: [MIT]
  profiles:
    default:
      rpms: [osb-modular]
  artifacts:
    rpms:
      - ${rpms[stream]}
...
`,
    )
    .join('') +
  `---
document: modulemd-defaults
version: 1
data:
  module: osb-stream
  stream: "1"
  profiles:
    "1": [default]
...
`;

const IMAGE_BUILD_COMPS = (extra: readonly string[] = []) => `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>core</id>
    <name>Minimal Install</name>
    <description>osb test group</description>
    <default>false</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">busybox</packagereq>
      <packagereq type="mandatory">chrony</packagereq>
${extra.map((p) => `      <packagereq type="mandatory">${p}</packagereq>\n`).join('')}    </packagelist>
  </group>
  <group>
    <id>development</id>
    <name>Development Tools</name>
    <description>osb test group</description>
    <default>false</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">make</packagereq>
    </packagelist>
  </group>
</comps>
`;

function noarch(name: string, deps: string): string {
  return `Summary: osb test package ${name}
BuildArch: noarch
${deps}
%description
osb test package
%install
mkdir -p %{buildroot}/usr/share/${name}
echo 'hello from ${name}' > %{buildroot}/usr/share/${name}/hello.txt
%files
/usr/share/${name}/hello.txt
`;
}

function rpmbuild(top: string, spec: Spec, version = '1.0'): string {
  const path = join(top, 'SPECS', `${spec.name}.spec`);
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  writeFileSync(path, `Name: ${spec.name}\nVersion: ${version}\nRelease: 1\nLicense: GPL-2.0-only\n${spec.body}`);
  sh(['rpmbuild', '-bb', '--quiet', ...RPMBUILD_DEFINES(top), path]);
  const dir = join(top, 'RPMS', spec.arch ?? 'noarch');
  const built = readdirSync(dir).find((f) => f.startsWith(`${spec.name}-${version}-`));
  return built ? join(dir, built) : ''; // a spec of subpackages only builds no package of its own name
}

function rpmsign(rpms: readonly string[], key: Key): void {
  sh(['rpmsign', '--addsign', '--define', `_gpg_name ${key.id}`, '--define', `_gpg_path ${key.home}`, '--define', '__gpg /usr/bin/gpg', ...rpms]);
}

function flipByte(file: string, fromEnd = 200): void {
  const b = readFileSync(file);
  b[b.length - fromEnd] ^= 0xff;
  writeFileSync(file, b);
}

const COMPS = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>osb-tools</id>
    <name>osb tools</name>
    <description>osb test group</description>
    <default>false</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">osb-extra</packagereq>
    </packagelist>
  </group>
</comps>
`;

/** createrepo_c over `dir`, then (with a key) a detached armored repomd.xml.asc and repomd.xml.key. */
function createrepo(dir: string, key: Key | undefined, served = key, comps = COMPS, modules?: string): void {
  writeFileSync(join(dir, '..', `${basename(dir)}-comps.xml`), comps);
  sh(['createrepo_c', '--quiet', '--general-compress-type=gz', '--groupfile', join(dir, '..', `${basename(dir)}-comps.xml`), dir]);
  if (modules) {
    const file = join(dir, '..', `${basename(dir)}-modules.yaml`);
    writeFileSync(file, modules);
    sh(['modifyrepo_c', '--mdtype=modules', '--compress-type=gz', file, join(dir, 'repodata')]);
  }
  if (!key) return;
  const repomd = join(dir, 'repodata', 'repomd.xml');
  sh(['gpg', '--batch', '--yes', '--local-user', key.id, '--detach-sign', '--armor', repomd], { GNUPGHOME: key.home });
  copyFileSync(served!.armored, `${repomd}.key`);
}

/**
 * One spec with `n` subpackages osb-bulk-1 … osb-bulk-N, each holding 256 KiB of its own data:
 * a package set the size of a small real install, for the bench.
 */
function bulkSpec(n: number): Spec {
  const subs = Array.from({ length: n }, (_, i) => i + 1);
  return {
    name: 'osb-bulk',
    body: `Summary: bulk test packages
BuildArch: noarch
%description
osb bulk
${subs.map((i) => `%package -n osb-bulk-${i}\nSummary: bulk ${i}\nRequires: busybox\n%description -n osb-bulk-${i}\nbulk ${i}\n`).join('')}
%install
${subs.map((i) => `mkdir -p %{buildroot}/usr/share/osb-bulk-${i} && head -c 262144 /dev/urandom > %{buildroot}/usr/share/osb-bulk-${i}/data`).join('\n')}
${subs.map((i) => `%files -n osb-bulk-${i}\n/usr/share/osb-bulk-${i}/data\n`).join('')}`,
  };
}

/** Build every variant under `root`/www. Takes a few seconds (keys, rpmbuild, createrepo). */
export function buildRpmTestRepos(root: string, opts: { bulk?: number } = {}): RpmTestRepos {
  const good = makeKey(root, 'osb-test');
  const stranger = makeKey(root, 'osb-stranger');
  const extra = makeKey(root, 'osb-extra');
  const top = join(root, 'rpmbuild');
  const built = new Map(SPECS.map((s) => [s.name, rpmbuild(top, s)]));
  const hello = rpmbuild(top, { name: 'osb-hello', body: noarch('osb-hello', 'Requires: busybox') });
  const www = join(root, 'www');
  const variant = (name: string, rpms: readonly string[]): string => {
    const dir = join(www, name);
    mkdirSync(dir, { recursive: true });
    for (const r of rpms) copyFileSync(r, join(dir, basename(r)));
    return dir;
  };
  const base = ['filesystem', 'busybox', 'osb-extra', 'patterns-osb-tools', 'systemd'].map((n) => built.get(n)!);
  if (opts.bulk) {
    rpmbuild(top, bulkSpec(opts.bulk));
    base.push(...readdirSync(join(top, 'RPMS', 'noarch')).filter((f) => /^osb-bulk-\d+-/.test(f)).map((f) => join(top, 'RPMS', 'noarch', f)));
  }
  const bad = ['osb-unsigned', 'osb-tampered', 'osb-postmod', 'osb-wrongkey'].map((n) => built.get(n)!);

  // good: the base set signed by the test key, plus one package for each way a package is wrong.
  const goodDir = variant('good', [...base, ...bad]);
  const at = (n: string) => join(goodDir, basename(built.get(n)!));
  rpmsign([...base, built.get('osb-tampered')!, built.get('osb-postmod')!].map((p) => join(goodDir, basename(p))), good);
  rpmsign([at('osb-wrongkey')], stranger);
  flipByte(at('osb-tampered')); // before createrepo: the metadata checksum matches, the signature does not
  createrepo(goodDir, good);
  flipByte(at('osb-postmod')); // after createrepo: the file no longer matches the signed metadata

  // badmeta: good packages, repomd.xml changed after it was signed.
  const badmeta = variant('badmeta', base);
  rpmsign(readdirSync(badmeta).map((f) => join(badmeta, f)), good);
  createrepo(badmeta, good);
  const repomd = join(badmeta, 'repodata', 'repomd.xml');
  writeFileSync(repomd, readFileSync(repomd, 'utf8').replace(/<revision>\d+<\/revision>/, '<revision>1</revision>'));

  // evil: everything signed by an attacker's key, which the repository serves as repomd.xml.key.
  const evil = variant('evil', base);
  rpmsign(readdirSync(evil).map((f) => join(evil, f)), stranger);
  createrepo(evil, stranger);

  // unsigned: nothing signed at all (as Clear Linux publishes).
  createrepo(variant('unsigned', base), undefined);

  // extra: another repository with its own key (for --repo URL,KEY).
  const extraDir = variant('extra', [hello]);
  rpmsign([join(extraDir, basename(hello))], extra);
  createrepo(extraDir, extra);

  // imagebuild: the base set and image-build's package names, groups and a module, signed by the test key.
  const ibRpms = IMAGE_BUILD_SPECS.map((spec) => rpmbuild(top, spec));
  const modular = { '1': rpmbuild(join(root, 'rpmbuild-1'), { name: 'osb-modular', body: noarch('osb-modular', '') }, '1.0'), '2': rpmbuild(join(root, 'rpmbuild-2'), { name: 'osb-modular', body: noarch('osb-modular', '') }, '2.0') };
  const ib = variant('imagebuild', [...base, ...ibRpms, modular['1'], modular['2']]);
  rpmsign(readdirSync(ib).map((f) => join(ib, f)), good);
  // With bulk packages (the bench), "Minimal Install" holds them, as a real one holds a few hundred.
  const bulkNames = readdirSync(ib).filter((f) => /^osb-bulk-\d+-/.test(f)).map((f) => f.replace(/-1\.0-1\.noarch\.rpm$/, ''));
  createrepo(ib, good, good, IMAGE_BUILD_COMPS(bulkNames), MODULES_YAML({ '1': 'osb-modular-0:1.0-1.noarch', '2': 'osb-modular-0:2.0-1.noarch' }));

  // gpg starts an agent per home to sign; stop them, nothing of the test may keep running.
  for (const k of [good, stranger, extra]) {
    sh(['gpgconf', '--homedir', k.home, '--kill', 'gpg-agent']);
    sh(['gpgconf', '--homedir', k.home, '--remove-socketdir']);
  }
  const keysDir = join(root, 'keys');
  mkdirSync(keysDir, { recursive: true });
  copyFileSync(good.armored, join(keysDir, 'RPM-GPG-KEY-osb-test'));
  return { root, keysDir, extraKey: extra.armored, variants: ['good', 'badmeta', 'evil', 'unsigned', 'extra', 'imagebuild'] };
}

/**
 * Serve the variants: /NAME/<any distro layout>/repodata/F → www/NAME/repodata/F and
 * /NAME/<anything>/P.rpm → www/NAME/P.rpm. Every request path is recorded.
 */
export async function serveRpmRepos(repos: RpmTestRepos): Promise<Served> {
  const www = join(repos.root, 'www');
  return serveFiles((path) => {
    // The trusted test key, as a distro publishes its RPM-GPG-KEY (image-build's gpg: URLs).
    const key = /^\/keys\/(RPM-GPG-KEY-[a-z-]+)$/.exec(path);
    if (key) return join(repos.keysDir, key[1]!);
    const m = /^\/([a-z]+)\/(?:.*\/)?(repodata\/[^/]+|[^/]+\.rpm)$/.exec(path);
    return m && repos.variants.includes(m[1]!) && !m[2]!.includes('..') ? join(www, m[1]!, m[2]!) : undefined;
  });
}
