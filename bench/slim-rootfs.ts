/**
 * The slim Debian guest osb itself builds (`osb rootfs --distro debian --agent-init`: minbase
 * without docs, locales and apt's lists, the smoke agent as /sbin/init), in a workdir of its own
 * under `dir`, from the benchmarks' package cache. The image and initrd benchmarks build on it
 * as a user does (`osb rootfs` then `osb image`), and Kata's scripts get the same tree.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { TEST_CACHE, DEBIAN_MIRROR } from './debian-rootfs.js';

export interface SlimWorkdir {
  readonly workdir: string;
  readonly rootfs: string;
  /** The options every osb command of the benchmark takes. */
  readonly args: string;
}

export function slimWorkdir(dir: string, osbCli: string): SlimWorkdir {
  const workdir = join(dir, 'wd');
  const args = `--workdir ${workdir} --cache-dir ${join(TEST_CACHE, 'osb-cache')}`;
  execFileSync('sh', ['-c', `${osbCli} rootfs --distro debian --agent-init --mirror ${DEBIAN_MIRROR} ${args} > /dev/null`], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { workdir, rootfs: join(workdir, 'rootfs'), args };
}
