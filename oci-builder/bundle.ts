/**
 * `osb bundle`: an OCI runtime bundle (runtime-spec config.json plus rootfs/), as a directory and
 * as a tarball, the shape of Oak's `oci_runtime_bundle`. runc runs it.
 */
import { writeFileMode } from '../lib/modes.js';
import { join } from 'node:path';
import { writeAtomic } from '../lib/atomic.js';
import type { BuildContext } from '../lib/context.js';
import { writeTar } from './tarfile.js';
import { checkRootfs, writeDirAtomic } from './stage.js';
import { DEFAULT_PATH_ENV } from './oci.js';

export interface BundleOptions {
  readonly rootfsDir: string;
  /** The bundle directory (e.g. `workdir/osb-bundle`): config.json and rootfs/. */
  readonly bundleDir: string;
  /** The bundle as an uncompressed tarball (e.g. `workdir/osb-bundle.tar`). */
  readonly tarPath: string;
  /** process.args: what the runtime starts. */
  readonly args: readonly string[];
  /** @default [DEFAULT_PATH_ENV] */
  readonly env?: readonly string[];
  /** @default 'osb' */
  readonly hostname?: string;
}

/**
 * `runc spec`'s template (runc 1.1), without a terminal: the runtime-spec defaults every runtime
 * accepts. The root is read-only, as the guest's root is in Kata.
 */
export function runtimeSpec(o: BundleOptions): unknown {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...o.args],
      env: [...(o.env ?? [DEFAULT_PATH_ENV])],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: o.hostname ?? 'osb',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

export async function buildBundle(ctx: BuildContext, o: BundleOptions): Promise<void> {
  const copy = (stage: string) => ['cp', '-a', '--reflink=auto', `${o.rootfsDir.replace(/\/+$/, '')}/.`, join(stage, 'rootfs')];
  if (ctx.dryRun) {
    ctx.log.info(`would write ${o.bundleDir} (config.json + rootfs/) and ${o.tarPath}; process: ${o.args.join(' ')}`);
    await ctx.run(copy(o.bundleDir));
    return;
  }
  checkRootfs(o.rootfsDir, [o.bundleDir, o.tarPath]);
  await writeDirAtomic(o.bundleDir, async (stage) => {
    // cp -a keeps hard links, device nodes, owners, modes and xattrs (file capabilities).
    await ctx.run(copy(stage));
    await writeFileMode(join(stage, 'config.json'), JSON.stringify(runtimeSpec(o), null, 2) + '\n', 0o644);
    await writeAtomic(o.tarPath, (tmp) => writeTar(ctx, stage, tmp));
  });
  ctx.log.info(`wrote ${o.bundleDir} and ${o.tarPath}`);
}
