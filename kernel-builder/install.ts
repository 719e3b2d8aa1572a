/**
 * `osb install-kernel [--prefix DIR]`: copy the built kernel where Kata looks for it
 * (default /usr/share/kata-containers), atomically, with vmlinuz.container / vmlinux.container
 * links. A file osb did not install is never overwritten without --force.
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeAtomic } from '../lib/atomic.js';
import { OsbError } from '../lib/errors.js';
import { sha256File } from '../lib/hash.js';

export const DEFAULT_PREFIX = '/usr/share/kata-containers';
const RECORD = '.osb-installed.json';

/** The stable links `osb kernel` leaves in its output directory. */
export interface BuiltKernelLinks {
  readonly vmlinuz: string;
  readonly vmlinux: string;
  readonly config: string;
}

export async function installKernel(k: BuiltKernelLinks, prefix: string, force: boolean): Promise<string[]> {
  if (!existsSync(k.vmlinuz)) throw new OsbError(`no kernel built: ${k.vmlinuz} does not exist`, 'run `osb kernel` first');
  const files = await Promise.all([k.vmlinuz, k.vmlinux, k.config].map(async (l) => join(dirname(l), await readlink(l))));
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
