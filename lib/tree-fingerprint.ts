/**
 * What a target saw of a directory it reads (the rootfs an image, initrd, squashfs or OCI layer is
 * made of): every entry's name, type, mode and owner, and each non-directory's size and mtime, in
 * name order, hashed. A tree edited by hand (a file written, added, removed or renamed, a mode or
 * owner changed) fingerprints differently, so what was built from it is built again.
 *
 * Not an input hash: mtimes are not content, and the artefact's identifiers must not depend on
 * them (verify-repro builds with other mtimes). The engine records it beside the inputs and
 * compares it only to decide whether a target is up to date.
 */
import { lstat, readdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/**
 * At most this many lstat calls at once: the walk runs beside the build, which needs the thread
 * pool (4 threads) for its own file work.
 */
const IN_FLIGHT = 2;

export async function treeFingerprint(root: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const dir = rel ? join(root, rel) : root;
    const names = (await readdir(dir)).sort();
    const stats = new Array<Awaited<ReturnType<typeof lstat>>>(names.length);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const i = next++;
        stats[i] = await lstat(join(dir, names[i]!));
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, names.length) }, worker));
    for (let i = 0; i < names.length; i++) {
      const st = stats[i]!;
      const p = rel ? `${rel}/${names[i]}` : names[i]!;
      if (st.isDirectory()) {
        h.update(`${p}/\0${st.mode}\0${st.uid}:${st.gid}\n`);
        await walk(p);
      } else h.update(`${p}\0${st.mode}\0${st.uid}:${st.gid}\0${st.size}\0${st.mtimeMs}\n`);
    }
  };
  try {
    await walk('');
  } catch (e) {
    // A tree that is not there (yet) is a state of its own; one that cannot be read is as well,
    // and never matches a fingerprint taken when it could.
    return `unreadable: ${(e as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  return `sha256:${h.digest('hex')}`;
}
