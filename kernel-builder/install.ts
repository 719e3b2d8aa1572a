/**
 * `osb install-kernel [--prefix DIR]`: copy the built kernel where Kata looks for it
 * (default /usr/share/kata-containers), atomically, with vmlinuz.container / vmlinux.container
 * links. A file osb did not install is never overwritten without --force.
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { writeAtomic } from '../lib/atomic.js';
import { OsbError } from '../lib/errors.js';
import { sha256File } from '../lib/hash.js';
import type { ParsedCommand } from '../tasks/cli.js';
import { kernelPaths } from '../tasks/paths.js';

export const DEFAULT_PREFIX = '/usr/share/kata-containers';
const RECORD = '.osb-installed.json';

export async function installKernel(workdir: string, prefix: string, force: boolean): Promise<string[]> {
  const k = kernelPaths({ workdir } as never);
  if (!existsSync(k.vmlinuz)) throw new OsbError(`no kernel built in ${workdir}`, 'run `osb kernel` first');
  const files = await Promise.all([k.vmlinuz, k.vmlinux, k.config].map(async (l) => join(workdir, await readlink(l))));
  await mkdir(prefix, { recursive: true });
  const recordPath = join(prefix, RECORD);
  const record: Record<string, string> = existsSync(recordPath) ? JSON.parse(readFileSync(recordPath, 'utf8')) : {};
  const installed: string[] = [];
  for (const f of files) {
    const dest = join(prefix, basename(f));
    if (existsSync(dest) && !force && record[basename(f)] !== (await sha256File(dest))) {
      throw new OsbError(`refusing to overwrite ${dest}: osb did not install it`, 'pass --force to replace it');
    }
    await writeAtomic(dest, (tmp) => copyFile(f, tmp));
    record[basename(f)] = await sha256File(dest);
    installed.push(dest);
  }
  for (const [link, f] of [['vmlinuz.container', files[0]!], ['vmlinux.container', files[1]!]] as const) {
    const dest = join(prefix, link);
    if (existsSync(dest) && !force && !(await readlink(dest).catch(() => '')).match(/^vmlinu[xz]-/)) {
      throw new OsbError(`refusing to replace ${dest}: it is not a link osb made`, 'pass --force to replace it');
    }
    await writeAtomic(dest, (tmp) => symlink(basename(f), tmp));
    installed.push(dest);
  }
  await writeAtomic(recordPath, (tmp) => writeFile(tmp, JSON.stringify(record, null, 2) + '\n'));
  return installed;
}

export async function installKernelCommand(cmd: ParsedCommand): Promise<number> {
  const prefix = resolve(String(cmd.flags.prefix ?? DEFAULT_PREFIX));
  for (const p of await installKernel(cmd.settings.workdir, prefix, cmd.settings.force)) process.stdout.write(`installed ${p}\n`);
  return 0;
}
