/**
 * `osb rootfs --distro fedora` from the signed test repository (bench/rpm-repo.ts) against the plain
 * `dnf --installroot` line for the same packages with the same checks (gpgcheck, repo_gpgcheck,
 * the same pinned keys), both cold (fresh root, empty cache), in the same run. The repository is
 * served by a child process, since the timed commands block this one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { median, timeShell, OSB, type BenchRow } from './lib.js';
import { buildRpmTestRepos } from './rpm-repo.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Packages of 256 KiB each for the second row: a package set the size of a small real install. */
const BULK = 120;
/** Where gpg puts the sockets of a home other than ~/.gnupg: one directory per home, left behind. */
const SOCKETS = `/run/user/${process.getuid?.() ?? 0}/gnupg`;
const FEDORA_KEY = join(HERE, '..', '..', 'distros', 'keys', 'fedora', 'RPM-GPG-KEY-fedora-44-primary');

function rmEmptyDir(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // not empty, or gone already
  }
}

async function serveInChild(reposRoot: string): Promise<{ url: string; stop: () => void }> {
  const code = `const m = await import(${JSON.stringify(pathToFileURL(join(HERE, 'rpm-repo.js')).href)});
const s = await m.serveRpmRepos({ root: ${JSON.stringify(reposRoot)}, variants: ['good'] });
process.stdout.write(s.url + '\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((ok, fail) => {
    child.stdout.once('data', (d: Buffer) => ok(d.toString().trim()));
    child.once('exit', (c) => fail(new Error(`repository server exited (${c})`)));
  });
  return { url, stop: () => child.kill() };
}

export async function benchRpmRootfs(runs: number): Promise<BenchRow[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'osb-bench-rpm-'));
  const repos = buildRpmTestRepos(join(scratch, 'repos'), { bulk: BULK });
  const server = await serveInChild(repos.root);
  try {
    const mirror = `${server.url}/good`;
    // The plain line: dnf's own options for the same repositories, checks and packages.
    const conf = join(scratch, 'plain');
    mkdirSync(join(conf, 'repos.d'), { recursive: true });
    mkdirSync(join(conf, 'home'), { recursive: true });
    writeFileSync(join(conf, 'dnf.conf'), '[main]\ngpgcheck=1\nrepo_gpgcheck=1\nskip_if_unavailable=0\nplugins=0\ninstall_weak_deps=0\n');
    writeFileSync(join(conf, 'home', '.rpmmacros'), '%_dbpath /usr/lib/sysimage/rpm\n');
    const keys = `file://${FEDORA_KEY} file://${join(repos.keysDir, 'RPM-GPG-KEY-osb-test')}`;
    const repo = (id: string, path: string) => `[${id}]\nbaseurl=${mirror}/${path}\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=${keys}\n`;
    writeFileSync(join(conf, 'repos.d', 'fedora.repo'), repo('fedora', 'releases/44/Everything/x86_64/os/') + repo('updates', 'updates/44/Everything/x86_64/'));
    const row = (name: string, pkgs: readonly string[]): BenchRow => {
      const plainRoot = join(scratch, 'plain-root');
      const wd = join(scratch, 'wd');
      const plainCmd = `env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=${conf}/home dnf --assumeyes --quiet --config=${conf}/dnf.conf --installroot=${plainRoot} --releasever=44 --setopt=reposdir=${conf}/repos.d --noplugins --nodocs install bash coreutils filesystem util-linux-core ${pkgs.join(' ')} > /dev/null`;
      const extra = pkgs.length ? ` --extra-pkgs ${pkgs.join(',')}` : '';
      const osbCmd = `${OSB} rootfs --distro fedora --agent-init --workdir ${wd} --mirror ${mirror} --keys-dir ${repos.keysDir}${extra} > /dev/null`;
      // Interleaved, so a change in the machine's load hits both sides alike; one warm-up of each.
      const socketsBefore = new Set(existsSync(SOCKETS) ? readdirSync(SOCKETS) : []);
      const plainTimes: number[] = [];
      const osbTimes: number[] = [];
      for (let i = 0; i <= runs; i++) {
        rmSync(plainRoot, { recursive: true, force: true });
        // The last round's tree, written and removed, is still being flushed: let neither side pay for it.
        spawnSync('sync');
        const p = timeShell(plainCmd).seconds;
        // Plain dnf leaves a gpg-agent per repository running and a socket directory per gpg home
        // it used (osb cleans up both): stop and remove them, untimed.
        const cacheRoot = join(plainRoot, 'var/cache/dnf');
        for (const d of readdirSync(cacheRoot)) {
          const home = join(cacheRoot, d, 'pubring');
          if (!existsSync(home)) continue;
          spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
          spawnSync('gpgconf', ['--homedir', home, '--remove-socketdir']);
        }
        // Only empty ones: a directory holding sockets belongs to an agent still running.
        for (const d of existsSync(SOCKETS) ? readdirSync(SOCKETS) : []) if (!socketsBefore.has(d)) rmEmptyDir(join(SOCKETS, d));
        rmSync(wd, { recursive: true, force: true });
        spawnSync('sync');
        const o = timeShell(osbCmd).seconds;
        if (i > 0) {
          plainTimes.push(p);
          osbTimes.push(o);
        }
      }
      rmSync(plainRoot, { recursive: true, force: true });
      rmSync(wd, { recursive: true, force: true });
      const paired = median(osbTimes.map((o, i) => o / plainTimes[i]!));
      return { name, median: median(osbTimes), runs, baseline: 'dnf --installroot, same packages and checks', baselineMedian: median(plainTimes), goal: '<= 1.1x', extra: `median of per-round ratios ${paired.toFixed(3)}x` };
    };
    return [
      row('osb rootfs --distro fedora --agent-init (test repository, cold, 2 packages)', []),
      row(`osb rootfs --distro fedora --agent-init (test repository, cold, ${BULK + 2} packages, ${BULK / 4} MiB)`, Array.from({ length: BULK }, (_, i) => `osb-bulk-${i + 1}`)),
    ];
  } finally {
    server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}
