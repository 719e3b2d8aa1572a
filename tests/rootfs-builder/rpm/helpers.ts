/** Shared by the RPM suites: the test repositories, served, and osb run against them. */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildRpmTestRepos, serveRpmRepos, type RpmTestRepos } from '../../../bench/rpm-repo.js';
import { osbAsync } from '../apk/helpers/test-repo.js';
import { cleanEnv, type OsbResult } from '../../helpers/cli.js';

export { buildRpmTestRepos, serveRpmRepos, type RpmTestRepos };
export type Served = Awaited<ReturnType<typeof serveRpmRepos>>;

/** Where each distro keeps its rpm database, and the first repomd.xml it asks for from `--mirror M`. */
export const DISTRO_LAYOUT: Record<string, { dbpath: string; repomd: (variant: string) => string; group: string }> = {
  fedora: { dbpath: '/usr/lib/sysimage/rpm', repomd: (v) => `/${v}/releases/44/Everything/x86_64/os/repodata/repomd.xml`, group: 'osb-tools' },
  centos: { dbpath: '/usr/lib/sysimage/rpm', repomd: (v) => `/${v}/10-stream/BaseOS/x86_64/os/repodata/repomd.xml`, group: 'osb-tools' },
  rocky: { dbpath: '/usr/lib/sysimage/rpm', repomd: (v) => `/${v}/10/BaseOS/x86_64/os/repodata/repomd.xml`, group: 'osb-tools' },
  openeuler: { dbpath: '/var/lib/rpm', repomd: (v) => `/${v}/openEuler-24.03-LTS-SP2/OS/x86_64/repodata/repomd.xml`, group: 'osb-tools' },
  azurelinux: { dbpath: '/var/lib/rpm', repomd: (v) => `/${v}/3.0/prod/base/x86_64/repodata/repomd.xml`, group: 'osb-tools' },
  opensuse: { dbpath: '/usr/lib/sysimage/rpm', repomd: (v) => `/${v}/distribution/leap/16.0/repo/oss/x86_64/repodata/repomd.xml`, group: 'osb_tools' },
};

export function rootfsArgs(distro: string, wd: string, mirror: string, repos: RpmTestRepos, extra: readonly string[] = []): string[] {
  return ['rootfs', '--distro', distro, '--agent-init', '--workdir', wd, '--mirror', mirror, '--keys-dir', repos.keysDir, ...extra];
}

export function runOsb(args: readonly string[], env = cleanEnv(), prefix: readonly string[] = []): Promise<OsbResult> {
  return osbAsync(args, env, prefix);
}

/** `rpm --root R --dbpath P -qa` as NAME-VERSION-RELEASE.ARCH lines, sorted. */
export function rpmQa(root: string, dbpath: string): string[] {
  return execFileSync('rpm', ['--root', root, '--dbpath', dbpath, '-qa', '--qf', '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}\\n'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' } })
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** Every path under `dir` (relative), for "nothing new" checks. */
export function listTree(dir: string, skip: (p: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (skip(p)) continue;
      out.push(p);
      if (lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}
