/**
 * `osb check-deps [TARGET...]`: the host tools (with minimum versions) and capabilities each
 * target needs, given the current settings. Exit 0 only when everything needed is present.
 */
import { constants, accessSync, existsSync, readdirSync, statfsSync } from 'node:fs';
import semver from 'semver';
import { OsbError, UsageError } from '../../lib/errors.js';
import { BINFMT_MISC, binfmtEntry, binfmtStatus } from '../../lib/binfmt.js';
import { isRoot, userNamespacesAvailable, which } from '../../lib/host.js';
import { getDistro, hostArch } from '../../distros/index.js';
import { silentReporter } from '../../lib/log.js';
import { createRunner } from '../../lib/run.js';
import { TOOLS } from '../../lib/tools.js';
import type { CommandRun } from '../cli/command.js';
import type { TargetTable, ToolSpec } from '../engine/target.js';
import { archList, archSettings, isMultiArch } from '../settings/arches.js';
import type { Settings } from '../settings/table.js';
import { loadTargets } from '../targets/index.js';

export interface Check {
  readonly target: string;
  readonly name: string;
  readonly kind: 'tool' | 'capability';
  readonly ok: boolean;
  readonly detail: string;
  readonly version?: string;
  readonly min?: string;
  /** For a missing tool: the packages that provide it. */
  readonly packages?: { debian: string; fedora: string; alpine: string };
  /** Commands --install runs after the packages when this is still missing (argv arrays). */
  readonly fixArgv?: readonly (readonly string[])[];
}

async function toolVersion(tool: string, path: string): Promise<string | undefined> {
  const run = createRunner({ reporter: silentReporter, sourceDateEpoch: 1 });
  try {
    const r = await run([path, TOOLS[tool]?.versionArg ?? '--version'], { allowFail: true, readOnly: true, quiet: true });
    const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(`${r.stdout}\n${r.stderr}`);
    return m ? `${m[1]}.${m[2]}.${m[3] ?? 0}` : undefined;
  } catch {
    return undefined;
  }
}

async function checkTool(target: string, spec: ToolSpec): Promise<Check> {
  const options: readonly string[] = typeof spec === 'string' ? [spec] : spec;
  for (const tool of options) {
    const path = which(tool);
    if (!path) continue;
    const min = TOOLS[tool]?.min;
    const version = await toolVersion(tool, path);
    const ok = !min || !version || semver.gte(version, min);
    return { target, name: tool, kind: 'tool', ok, version, min, detail: ok ? `${version ?? 'found'} (${path})` : `${version} is older than ${min}`, packages: TOOLS[tool] };
  }
  const first = options[0]!;
  const pk = TOOLS[first];
  return {
    target,
    name: options.join(' or '),
    kind: 'tool',
    ok: false,
    min: pk?.min,
    detail: pk ? `missing: apt-get install ${pk.debian} | dnf install ${pk.fedora} | apk add ${pk.alpine}` : 'missing',
    packages: pk,
  };
}

/** The arch the settings build for (the host's by default). */
const targetArch = (s: Settings): string => s.arch ?? hostArch();

async function capabilities(target: string, s: Settings): Promise<Check[]> {
  const c = (name: string, ok: boolean, detail: string, debianPackage?: string): Check => ({
    target,
    name,
    kind: 'capability',
    ok,
    detail,
    // Missing files a package provides are installed by --install like tools (Debian/Ubuntu hosts).
    packages: debianPackage ? { debian: debianPackage, fedora: 'n/a', alpine: 'n/a' } : undefined,
  });
  const out: Check[] = [];
  if (target === 'rootfs') {
    const distro = getDistro(s.distro);
    const root = isRoot();
    // The archive keyring the distro names (apt); one osb ships stands in when the host has none.
    const { keyring, keyringPackage, shippedKeyring } = distro;
    if (keyring && shippedKeyring && !existsSync(keyring)) out.push(c(`${distro.name} archive keyring`, true, `host has none: osb's shipped copy (distros/keys/${distro.name}/)`));
    else if (keyring) out.push(c(`${distro.name} archive keyring`, existsSync(keyring), existsSync(keyring) ? keyring : `missing: apt-get install ${keyringPackage}`, keyringPackage));
    const { engineFor } = await import('../../rootfs-builder/engines/index.js');
    const why = (await engineFor(distro)).needsRoot;
    if (why) out.push(c('root', root, root ? 'running as root' : `${distro.name} builds run ${why}: run as root`));
    else out.push(c('root or user namespaces', root || userNamespacesAvailable(), root ? 'running as root' : userNamespacesAvailable() ? 'unprivileged user namespaces available' : 'neither: run as root, or enable user namespaces and install uidmap'));
  }
  const arch = targetArch(s);
  if (target === 'rootfs' && arch !== hostArch()) {
    const b = binfmtStatus(arch);
    // Installing qemu-user-static does not always register the handler (no init system in a
    // container): --install then mounts binfmt_misc and enables it, as the fix line says.
    const fixArgv = [...(existsSync(`${BINFMT_MISC}/status`) ? [] : [['mount', '-t', 'binfmt_misc', 'binfmt_misc', BINFMT_MISC]]), ['update-binfmts', '--enable', binfmtEntry(arch)]];
    out.push({ ...c(`binfmt_misc handler ${binfmtEntry(arch)}`, b.ok, b.ok ? `registered and enabled (${BINFMT_MISC}/${binfmtEntry(arch)})` : `${b.why}: ${b.fix}`, 'qemu-user-static'), fixArgv });
  }
  if (target === 'kernel') {
    const src = existsSync('/usr/src') ? readdirSync('/usr/src').filter((n) => /^linux-source-\d/.test(n)) : [];
    out.push(c('kernel source', Boolean(s.kernelSrc || s.kernelVersion || src.length), s.kernelSrc ? s.kernelSrc : s.kernelVersion ? `download ${s.kernelVersion}` : src.length ? `/usr/src/${src[0]}` : 'none: apt-get install linux-source-6.1, or pass --kernel-src / --kernel-version', 'linux-source-6.1'));
    // objtool (x86_64's ORC unwinder) needs libelf; scripts/sign-file and certs need OpenSSL.
    for (const [h, pkg] of [['/usr/include/libelf.h', 'libelf-dev'], ['/usr/include/openssl/ssl.h', 'libssl-dev']] as const) {
      out.push(c(h, existsSync(h), existsSync(h) ? 'present' : `missing: apt-get install ${pkg}`, pkg));
    }
  }
  if (target === 'boot') {
    let kvm = false;
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      kvm = true;
    } catch {
      // no access
    }
    // Not a failure: osb boot probes KVM and falls back to TCG.
    out.push(c('/dev/kvm', true, kvm ? 'present (osb boot probes it and falls back to TCG if it cannot run guests)' : 'absent: boots will use TCG (slower)'));
  }
  if (target === 'image' && s.fsType === 'xfs') {
    out.push(c('loop devices', existsSync('/dev/loop-control'), existsSync('/dev/loop-control') ? '/dev/loop-control present' : 'missing: modprobe loop'));
  }
  const need = { rootfs: 1024, image: 512, initrd: 256, kernel: 4096, boot: 0 }[target] ?? 0;
  if (need) {
    let dir = s.workdir;
    while (!existsSync(dir)) dir = dir.replace(/\/[^/]*$/, '') || '/';
    const st = statfsSync(dir);
    const freeMiB = Math.floor((st.bavail * st.bsize) / 1048576);
    out.push(c(`free space in workdir >= ${need} MiB`, freeMiB >= need, `${freeMiB} MiB free in ${dir}`));
  }
  return out;
}

/** What each target says it runs (Target.tools), found and versioned, then the capabilities it needs. */
export async function checkDeps(table: TargetTable, targets: readonly string[], s: Settings): Promise<Check[]> {
  const checks: Check[] = [];
  // --arch x86_64,aarch64: what each architecture needs (qemu-user for the foreign one), each check once.
  const each = isMultiArch(s) ? archList(s).map((a) => archSettings(s, a)) : [s];
  for (const name of targets) {
    const t = table.get(name);
    if (!t) throw new UsageError(`unknown target '${name}'`, `targets: ${[...table.keys()].join(', ')}`);
    for (const one of each) {
      const tools = (await t.tools?.(one)) ?? [];
      for (const c of [...(await Promise.all(tools.map((spec) => checkTool(name, spec)))), ...(await capabilities(name, one))]) {
        if (!checks.some((x) => x.target === c.target && x.name === c.name)) checks.push(c);
      }
    }
  }
  return checks;
}

function hostInstaller(): string[] | undefined {
  if (which('apt-get')) return ['apt-get', 'install', '-y', '--no-install-recommends'];
  if (which('dnf')) return ['dnf', 'install', '-y'];
  if (which('apk')) return ['apk', 'add'];
  return undefined;
}

export const run: CommandRun = async (cmd) => {
  const table = await loadTargets();
  const targets = cmd.positional.length ? cmd.positional : [...table.keys()];
  let checks = await checkDeps(table, targets, cmd.settings);
  const missing = checks.filter((c) => !c.ok && c.packages);
  if (cmd.flags.install && missing.length) {
    if (!isRoot()) throw new OsbError('check-deps --install needs root', 'run it with sudo, or install the packages listed');
    const inst = hostInstaller();
    if (!inst) throw new OsbError('no apt-get, dnf or apk on this host', 'install the packages listed by hand');
    const field = inst[0] === 'apt-get' ? 'debian' : inst[0] === 'dnf' ? 'fedora' : 'alpine';
    const pkgs = [...new Set(missing.map((c) => c.packages![field]))].filter((p) => p !== 'n/a').sort();
    const run = createRunner({ reporter: { ...silentReporter, output: (l) => process.stderr.write(`${l}\n`) }, sourceDateEpoch: 1 });
    await run([...inst, ...pkgs], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
    checks = await checkDeps(table, targets, cmd.settings);
    for (const c of checks.filter((x) => !x.ok && x.fixArgv)) for (const argv of c.fixArgv!) await run([...argv]);
    if (checks.some((x) => !x.ok && x.fixArgv)) checks = await checkDeps(table, targets, cmd.settings);
  }
  const ok = checks.every((c) => c.ok);
  if (cmd.flags.json) {
    process.stdout.write(JSON.stringify({ ok, checks }, null, 2) + '\n');
  } else {
    const wName = Math.max(...checks.map((c) => c.name.length), 4);
    for (const c of checks) process.stdout.write(`${c.target.padEnd(7)} ${c.name.padEnd(wName)}  ${c.ok ? 'ok     ' : 'MISSING'}  ${c.detail}\n`);
    process.stdout.write(ok ? 'all dependencies present\n' : `${checks.filter((c) => !c.ok).length} missing; install them (or run osb check-deps --install as root)\n`);
  }
  return ok ? 0 : 1;
};
