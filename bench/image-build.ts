/**
 * image-build's README base example, `osb build --config FILE` (the rootfs and the OCI image, no
 * publishing), against the plain `dnf --installroot` of the same repository, groups and packages
 * with the same checks, and its cmd run chrooted, both cold, rounds interleaved, in the same run.
 * The test repository's "Minimal Install" holds BULK packages of 256 KiB, as a real one holds a
 * few hundred. And the Ansible layer, `osb rootfs` on a parent with a playbook, against
 * `ansible-playbook -c community.general.chroot` on an unpacked copy of the same parent.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, timeShell, OSB, type BenchRow } from './lib.js';
import { buildRpmTestRepos } from './rpm-repo.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BULK = 120;

async function serveInChild(reposRoot: string, keysDir: string): Promise<{ url: string; stop: () => void }> {
  const code = `const m = await import(${JSON.stringify(pathToFileURL(join(HERE, 'rpm-repo.js')).href)});
const s = await m.serveRpmRepos({ root: ${JSON.stringify(reposRoot)}, keysDir: ${JSON.stringify(keysDir)}, variants: ['imagebuild'] });
process.stdout.write(s.url + '\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((ok, fail) => {
    child.stdout.once('data', (d: Buffer) => ok(d.toString().trim()));
    child.once('exit', (c) => fail(new Error(`repository server exited (${c})`)));
  });
  return { url, stop: () => child.kill() };
}

/** Stop the gpg-agents plain dnf leaves running in the tree's cache (osb stops its own). */
function stopAgents(root: string): void {
  const cache = join(root, 'var/cache/dnf');
  for (const d of existsSync(cache) ? readdirSync(cache) : []) {
    const home = join(cache, d, 'pubring');
    if (!existsSync(home)) continue;
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    spawnSync('gpgconf', ['--homedir', home, '--remove-socketdir']);
  }
}

function interleave(runs: number, a: { before?: () => void; cmd: string }, b: { before?: () => void; cmd: string }): { a: number[]; b: number[]; paired: number } {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i <= runs; i++) {
    a.before?.();
    spawnSync('sync');
    const x = timeShell(a.cmd).seconds;
    b.before?.();
    spawnSync('sync');
    const y = timeShell(b.cmd).seconds;
    if (i > 0) {
      as.push(x);
      bs.push(y);
    }
  }
  return { a: as, b: bs, paired: median(as.map((x, i) => x / bs[i]!)) };
}

export async function benchImageBuild(runs: number): Promise<BenchRow[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'osb-bench-ib-'));
  const repos = buildRpmTestRepos(join(scratch, 'repos'), { bulk: BULK });
  const server = await serveInChild(repos.root, repos.keysDir);
  try {
    const url = `${server.url}/imagebuild/pub/rocky/9/BaseOS/x86_64/os/`;
    const config = join(scratch, 'rocky-base.yaml');
    writeFileSync(
      config,
      `options:\n  layer_type: 'base'\n  name: 'rocky-base'\n  publish_tags: '9'\n  pkg_manager: 'dnf'\n  parent: 'scratch'\nrepos:\n  - alias: 'rocky-baseos'\n    url: '${url}'\npackage_groups:\n  - 'Minimal Install'\n  - 'Development Tools'\npackages:\n  - kernel\n  - wget\ncmds:\n  - cmd: 'echo hello'\n`,
    );
    const conf = join(scratch, 'plain');
    mkdirSync(join(conf, 'repos.d'), { recursive: true });
    mkdirSync(join(conf, 'home'), { recursive: true });
    writeFileSync(join(conf, 'dnf.conf'), '[main]\ngpgcheck=1\nrepo_gpgcheck=1\nskip_if_unavailable=0\nplugins=0\ninstall_weak_deps=0\n');
    writeFileSync(join(conf, 'home', '.rpmmacros'), '%_dbpath /var/lib/rpm\n');
    writeFileSync(join(conf, 'repos.d', 'rocky.repo'), `[rocky-baseos]\nbaseurl=${url}\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://${join(repos.keysDir, 'RPM-GPG-KEY-osb-test')}\n`);
    const plainRoot = join(scratch, 'plain-root');
    const wd = join(scratch, 'wd');
    const plain = `env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=${conf}/home dnf --assumeyes --quiet --config=${conf}/dnf.conf --installroot=${plainRoot} --releasever=9 --setopt=reposdir=${conf}/repos.d --noplugins --nodocs install kernel wget '@Minimal Install' '@Development Tools' > /dev/null && chroot ${plainRoot} /bin/sh -c 'echo hello' > /dev/null`;
    const osb = `${OSB} build --config ${config} --workdir ${wd} --os-version 9 --keys-dir ${repos.keysDir} > /dev/null`;
    const base = interleave(runs, { before: () => rmSync(wd, { recursive: true, force: true }), cmd: osb }, {
      before: () => {
        stopAgents(plainRoot);
        rmSync(plainRoot, { recursive: true, force: true });
      },
      cmd: plain,
    });
    stopAgents(plainRoot);
    // The floor of any tool that makes image-build's gzip layer: dnf's time plus the fastest gzip
    // here (pigz on both cores) of the tree the last build made, alone.
    const tree = join(wd, 'rootfs');
    const pigz = spawnSync('sh', ['-c', 'command -v pigz']).status === 0 && existsSync(tree) ? Array.from({ length: runs }, () => timeShell(`tar -C ${tree} -cf - . | pigz -6 -p 2 > /dev/null`).seconds) : [];
    const rows: BenchRow[] = [
      {
        name: `osb build --config (image-build's README base example: rootfs and OCI image; test repository, Minimal Install of ${BULK + 2} packages)`,
        median: median(base.a),
        runs,
        baseline: "dnf --installroot of the same repository, groups and packages, same checks, and its cmd in a chroot",
        baselineMedian: median(base.b),
        goal: '<= 1.1x',
        extra: `median of per-round ratios ${base.paired.toFixed(3)}x`,
      },
      ...(pigz.length
        ? [{ name: "tar | pigz -6 -p 2 of the same tree (the fastest gzip here: the layer's floor)", median: median(pigz), runs, extra: `dnf's time plus this: ${((median(base.b) + median(pigz)) / median(base.b)).toFixed(2)}x of dnf, before anything else` }]
        : []),
    ];
    rows.push(...(await benchAnsibleLayer(runs, scratch)));
    return rows;
  } finally {
    server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The Ansible layer: a Debian tree with python3 as the parent (oci-archive), a playbook that
 * templates a file, creates a user and enables a unit; osb rootfs --parent … --ansible-playbook
 * against ansible-playbook -c community.general.chroot on an unpacked copy of the same tree.
 */
export async function benchAnsibleLayer(runs: number, scratch: string): Promise<BenchRow[]> {
  if (spawnSync('sh', ['-c', 'command -v ansible-playbook']).status !== 0) return [{ name: 'Ansible layer', median: 0, runs: 0, extra: 'apt-get install ansible-core ansible for this row' }];
  const { pythonTree } = await import('./python-tree.js');
  const tree = pythonTree();
  const parentWd = join(scratch, 'parent-wd');
  // The parent, as a base layer osb published would be: an oci-archive of the tree (untimed).
  timeShell(`${OSB} oci --no-deps --rootfs-dir ${tree} --workdir ${parentWd} > /dev/null`);
  const play = join(scratch, 'play');
  mkdirSync(join(play, 'templates'), { recursive: true });
  writeFileSync(join(play, 'templates', 'motd.j2'), 'welcome to {{ site }}\n');
  writeFileSync(join(play, 'site.yaml'), `- hosts: compute\n  gather_facts: false\n  vars:\n    site: osb\n  tasks:\n    - template: { src: templates/motd.j2, dest: /etc/motd }\n    - user: { name: ops, create_home: false }\n    - copy: { dest: /etc/systemd/system/osb-bench.service, content: "[Unit]\\nDescription=x\\n[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n" }\n    - file: { src: /etc/systemd/system/osb-bench.service, dest: /etc/systemd/system/multi-user.target.wants/osb-bench.service, state: link }\n`);
  const copy = join(scratch, 'ansible-copy');
  const inv = join(scratch, 'inv.ini');
  writeFileSync(inv, `[compute]\n${copy} ansible_connection=community.general.chroot\n`);
  const plain = `ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_NOCOLOR=1 ansible-playbook -i ${inv} -c community.general.chroot ${join(play, 'site.yaml')} > /dev/null`;
  const wd = join(scratch, 'ansible-wd');
  // The cache outlives the workdir, as a CI cache does: the parent is unpacked once (by the cold
  // build, timed apart), as the baseline's copy is unpacked once.
  const cache = join(scratch, 'ansible-cache');
  const osb = `${OSB} rootfs --parent oci-archive:${join(parentWd, 'osb-oci.tar')} --no-agent --ansible-playbook ${join(play, 'site.yaml')} --ansible-group compute --workdir ${wd} --cache-dir ${cache} > /dev/null`;
  const cold = timeShell(osb).seconds;
  const r = interleave(
    runs,
    { before: () => rmSync(wd, { recursive: true, force: true }), cmd: osb },
    {
      before: () => {
        rmSync(copy, { recursive: true, force: true });
        spawnSync('cp', ['-a', tree, copy]);
      },
      cmd: plain,
    },
  );
  return [
    {
      name: 'osb rootfs, Ansible layer on a parent (the parent from the cache, the playbook on an overlay over it while it is hard-linked into the stage)',
      median: median(r.a),
      runs,
      baseline: 'ansible-playbook -c community.general.chroot on an unpacked copy of the parent (cp -a untimed)',
      baselineMedian: median(r.b),
      goal: '<= 1.2x',
      extra: `median of per-round ratios ${r.paired.toFixed(3)}x; the first build on this parent, which unpacks it into the cache: ${cold.toFixed(2)} s`,
    },
  ];
}
