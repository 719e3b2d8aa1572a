/**
 * Explicit modes for what osb creates inside a tree (a rootfs, a boot tree). mkdir's and
 * writeFile's `mode` are masked by the process's umask, so a build under umask 077 would make
 * 0700 directories and 0600 files where one under 022 makes 0755 and 0644, and the artefacts
 * would differ. Every level created, and every file written, is chmod'ed to its mode afterwards.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** `mkdir -p dir`, with every directory it creates set to `mode` whatever the umask. Existing ones are left as they are. */
export async function mkdirMode(dir: string, mode = 0o755): Promise<void> {
  const abs = resolve(dir);
  const first = await mkdir(abs, { recursive: true, mode });
  if (first === undefined) return;
  for (let p = abs; ; p = dirname(p)) {
    await chmod(p, mode);
    if (p === first || dirname(p) === p) return;
  }
}

/** Write `path` and set its mode, whatever the umask (a file that existed gets the mode too). */
export async function writeFileMode(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await writeFile(path, data, { mode });
  await chmod(path, mode);
}
