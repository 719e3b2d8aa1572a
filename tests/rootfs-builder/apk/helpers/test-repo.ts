/**
 * A small Alpine-shaped repository on 127.0.0.1, built by the tests: Debian's static busybox
 * packaged as Alpine packages it (post-install runs `busybox --install -s`, a trigger re-runs it),
 * a baselayout with pre/post-install scripts that leave traces, a `so:` provider, a `/bin/sh`
 * virtual with `k:` priorities, install_if packages, and one package per way to fail. Several
 * mirrors share the server: `good`, and broken indexes (`unknown-key`, `tampered`, `unsigned`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { serveFiles, type Served } from '../../../../bench/serve.js';
import { join, normalize } from 'node:path';
import { makeKey, type TestKey } from './abuild.js';
import { buildIndex, buildPackage, type BuiltPackage, type PkgSpec } from './apk-package.js';
import { cleanEnv, OSB, type OsbResult } from '../../../helpers/cli.js';

export const RELEASE = 'v3.22';
const HOST_BUSYBOX = readFileSync('/bin/busybox');
const BB = '1.36.1-r29';

export interface TestRepo {
  readonly root: string;
  /** --keys-dir holding the test repository's public key. */
  readonly keysDir: string;
  readonly key: TestKey;
  /** Where the evil packages try to write. */
  readonly outside: string;
  readonly main: readonly BuiltPackage[];
}

/** The repository's arch and the static busybox it packages (another arch's for foreign-arch tests). */
export interface RepoArch {
  /** @default 'x86_64' */
  readonly arch?: string;
  /** @default the host's /bin/busybox (Debian's busybox-static) */
  readonly busybox?: Buffer;
}

function mainPackages(outside: string, a: RepoArch = {}): PkgSpec[] {
  const dir = { dir: true } as const;
  const arch = a.arch ?? 'x86_64';
  const BUSYBOX = a.busybox ?? HOST_BUSYBOX;
  return [
    { name: 'musl', version: '1.2.5-r10', provides: [`so:libc.musl-${arch}.so.1=1`], files: { lib: dir, 'lib/osb-test-musl.txt': 'musl stand-in\n' } },
    { name: 'musl', version: '1.2.4-r3', provides: [`so:libc.musl-${arch}.so.1=1`], files: { 'lib/osb-test-musl.txt': 'older musl\n' } },
    {
      name: 'busybox',
      version: BB,
      depends: [`so:libc.musl-${arch}.so.1`],
      triggers: ['/bin', '/usr/bin', '/sbin', '/usr/sbin', '/lib/modules/*'],
      files: { bin: dir, 'bin/busybox': { data: BUSYBOX, mode: 0o755 } },
      scripts: {
        // As Alpine's busybox.post-install: /bin/sh does not exist yet, so busybox runs it.
        'post-install': '#!/bin/busybox sh\n/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin\nexec /bin/busybox --install -s\n',
        trigger: '#!/bin/sh\n/bin/busybox --install -s\nmkdir -p /var/lib/osb-test\necho "$*" > /var/lib/osb-test/busybox-trigger\n',
      },
    },
    { name: 'busybox-binsh', version: BB, depends: [`busybox=${BB}`], provides: ['/bin/sh', `cmd:sh=${BB}`], providerPriority: 100, files: { bin: dir, 'bin/sh': { symlink: '/bin/busybox' } } },
    { name: 'dash-binsh', version: '0.5.12-r3', provides: ['/bin/sh', 'cmd:sh=0.5.12-r3'], providerPriority: 60, files: { 'bin/sh': { symlink: '/usr/bin/dash' } } },
    {
      name: 'alpine-baselayout-data',
      version: '3.6.8-r1',
      files: {
        etc: dir,
        'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n',
        'etc/group': 'root:x:0:root\nshadow:x:42:\nnogroup:x:65533:\n',
        'etc/shadow': { data: 'root:*::0:::::\n', mode: 0o640, gid: 42 },
        'etc/hostname': 'alpine\n',
      },
    },
    {
      name: 'alpine-baselayout',
      version: '3.6.8-r1',
      depends: ['alpine-baselayout-data=3.6.8-r1', '/bin/sh'],
      files: {
        ...Object.fromEntries(['bin', 'dev', 'etc', 'home', 'lib', 'proc', 'run', 'sbin', 'sys', 'usr', 'usr/bin', 'usr/sbin', 'usr/lib', 'var', 'var/lib', 'var/log'].map((d) => [d, dir])),
        root: { dir: true, mode: 0o700 },
        tmp: { dir: true, mode: 0o1777 },
        'var/run': { symlink: '../run' },
      },
      scripts: {
        'pre-install': '#!/bin/sh\nmkdir -p /var/lib/osb-test\necho "alpine-baselayout pre-install $1" > /var/lib/osb-test/baselayout-pre-install\n',
        'post-install': '#!/bin/sh\necho "alpine-baselayout post-install $1, root shell $(grep ^root: /etc/passwd | cut -d: -f7)" > /var/lib/osb-test/baselayout-post-install\n',
      },
    },
    { name: 'musl-utils', version: '1.2.5-r10', depends: [`so:libc.musl-${arch}.so.1`], provides: ['cmd:ldd=1.2.5-r10'], files: { 'usr/bin/ldd': { data: '#!/bin/sh\necho "ldd stand-in"\n', mode: 0o755 } } },
    { name: 'osb-test-install-if', version: '1.0-r0', installIf: ['busybox', 'musl-utils'], files: { 'etc/osb-install-if': 'installed because busybox and musl-utils are\n' } },
    { name: 'busybox-doc', version: BB, installIf: ['docs', `busybox=${BB}`], files: { 'usr/share/doc/busybox/README': 'docs\n' } },
    // One package per way to fail; each is pulled in with --extra-pkgs by its test.
    { name: 'osb-conflicts-busybox', version: '1.0-r0', depends: ['!busybox'] },
    { name: 'osb-needs-missing', version: '1.0-r0', depends: ['osb-middle'] },
    { name: 'osb-middle', version: '2.0-r0', depends: ['libnothere>=1'] },
    { name: 'osb-bad-control', version: '1.0-r0', files: { 'etc/osb-bad-control': 'x\n' }, tamper: 'control' },
    { name: 'osb-bad-data', version: '1.0-r0', files: { 'etc/osb-bad-data': 'x\n' }, tamper: 'data' },
    { name: 'osb-bad-file', version: '1.0-r0', files: { 'etc/osb-bad-file': 'x\n' }, tamper: 'file-checksum' },
    { name: 'osb-evil-dotdot', version: '1.0-r0', files: { evil: 'escaped\n' }, rename: { evil: '../osb-evil-dotdot' } },
    { name: 'osb-evil-abs', version: '1.0-r0', files: { evil: 'escaped\n' }, rename: { evil: join(outside, 'evil-abs') } },
    { name: 'osb-evil-symlink', version: '1.0-r0', files: { 'etc/osb-link': { symlink: outside }, pwned: 'escaped\n' }, rename: { pwned: 'etc/osb-link/pwned' } },
  ];
}

function publish(dir: string, packages: readonly BuiltPackage[], index: Buffer): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'APKINDEX.tar.gz'), index);
  for (const p of packages) writeFileSync(join(dir, p.file), p.apk);
}

export function buildTestRepo(root: string, a: RepoArch = {}): TestRepo {
  const keysDir = join(root, 'keys');
  const key = makeKey(join(root, 'private'), 'repo');
  const stranger = makeKey(join(root, 'private'), 'stranger');
  mkdirSync(keysDir, { recursive: true });
  writeFileSync(join(keysDir, key.name), key.publicPem);
  const outside = join(root, 'outside');
  mkdirSync(outside, { recursive: true });
  const main = mainPackages(outside, a).map((s) => buildPackage({ ...s, arch: a.arch ?? 'x86_64' }, key));
  const community = [buildPackage({ name: 'osb-community-hello', version: '1.0-r0', arch: a.arch ?? 'x86_64', depends: ['busybox'], files: { 'usr/share/osb-community-hello/hello.txt': 'hello from community\n' } }, key)];
  const stanzas = main.map((p) => p.stanza);
  const repoDir = (mirror: string, repo: string) => join(root, 'www', mirror, RELEASE, repo, a.arch ?? 'x86_64');
  publish(repoDir('good', 'main'), main, buildIndex(stanzas, key));
  publish(repoDir('good', 'community'), community, buildIndex(community.map((p) => p.stanza), key));
  publish(repoDir('unknown-key', 'main'), main, buildIndex(stanzas, stranger));
  publish(repoDir('unsigned', 'main'), main, buildIndex(stanzas, null));
  // The right signature member in front of an index whose content was changed afterwards.
  const signed = buildIndex(stanzas, key);
  const altered = buildIndex(stanzas.map((s) => s.replace('V:1.2.5-r10', 'V:1.2.5-r11')), null);
  const sigLen = signed.length - buildIndex(stanzas, null).length;
  publish(repoDir('tampered', 'main'), main, Buffer.concat([signed.subarray(0, sigLen), altered]));
  return { root, keysDir, key, outside, main };
}

/** Serve `root/www` on 127.0.0.1; mirrors are `${url}/good`, `${url}/tampered`, ... */
export async function serveRepo(repo: TestRepo): Promise<Served> {
  const www = join(repo.root, 'www');
  return serveFiles((path) => {
    const file = normalize(join(www, path));
    return file.startsWith(www + '/') ? file : undefined;
  });
}

/** Run the built CLI without blocking this process (the repository server lives in it). */
export function osbAsync(args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv(), prefix: readonly string[] = []): Promise<OsbResult> {
  return new Promise((resolve, reject) => {
    const argv = [...prefix, process.execPath, OSB, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
