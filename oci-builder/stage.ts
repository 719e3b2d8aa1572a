/** Directory outputs staged beside their final name and renamed into place when complete. */
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve, isAbsolute } from 'node:path';
import { assertOwnedOrEmpty, replaceDir, siblingMarkerFor, throughTemp } from '../lib/atomic.js';
import { OsbError, UsageError } from '../lib/errors.js';

/**
 * Fill a staged sibling of `finalDir` with `body`, then replace `finalDir` by it. On failure or
 * interruption the stage is removed and `finalDir` is untouched. The marker that lets osb replace
 * the directory next time sits beside it, so it is not part of what the directory ships.
 */
export async function writeDirAtomic<T>(finalDir: string, body: (stageDir: string) => Promise<T>): Promise<T> {
  await assertOwnedOrEmpty(finalDir);
  await mkdir(dirname(resolve(finalDir)), { recursive: true });
  return throughTemp(
    finalDir,
    async (stage) => {
      await mkdir(stage);
      await chmod(stage, 0o755); // a tree's top, shipped in archives: never the umask's mode
      return body(stage);
    },
    async (stage) => {
      await writeFile(siblingMarkerFor(finalDir), 'created by osb; osb may delete the directory beside this file\n');
      await replaceDir(stage, finalDir);
    },
  );
}

/** The rootfs must exist, and no output may be inside it (it would archive itself). */
export function checkRootfs(rootfsDir: string, outputs: readonly string[]): void {
  for (const out of outputs) {
    const rel = relative(resolve(rootfsDir), resolve(out));
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      throw new UsageError(`the output ${out} would be inside the rootfs ${rootfsDir}`, 'write outputs outside the rootfs, e.g. into the workdir');
    }
  }
  if (!existsSync(rootfsDir)) throw new OsbError(`rootfs directory ${rootfsDir} does not exist`, 'build it first (`osb rootfs`), or point --rootfs-dir at one');
}
