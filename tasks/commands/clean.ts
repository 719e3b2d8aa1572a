/** `osb clean [--cache]`: remove what osb built in the workdir, and only that. */
import { existsSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assertOwnedOrEmpty, OWNER_MARKER, siblingMarkerFor } from '../../lib/atomic.js';
import { OsbError } from '../../lib/errors.js';
import type { CommandRun } from '../cli/command.js';
import { bundlePaths, cacheDir, imagePath, initrdPath, kernelPaths, manifestPath, ociPaths, provenancePath, rootfsDir, rootHashPath, sbomPath, scanRecordPath, squashfsPaths, sysextPath, sysextUsrHashPath, sysextVerityPath, ukiPaths } from '../settings/paths.js';
import { archList, archSettings, isMultiArch } from '../settings/arches.js';
import type { Settings } from '../settings/table.js';
import { checkWorkdir, openWorkdir } from './workdir.js';

/** What osb keeps in the cache directory (`osb clean --cache` empties these, and only these). */
const CACHE_DIRS = ['base', 'debs', 'apk', 'dnf', 'zypp', 'kernel-src'];

/**
 * Remove osb's outputs, logs and build state from the workdir, and what killed runs left (the
 * lock's sweep). The download cache stays unless --cache is given, and so does the record of the
 * workdir's settings (`osb config --reset` forgets it).
 */
export const run: CommandRun = async (cmd) => {
  const s = cmd.settings;
  checkWorkdir(s);
  if (!existsSync(s.workdir)) return 0;
  if (!existsSync(join(s.workdir, OWNER_MARKER))) {
    throw new OsbError(`refusing to clean ${s.workdir}: osb did not create it (no ${OWNER_MARKER})`, 'remove it yourself if it is yours');
  }
  const lock = s.dryRun ? undefined : await openWorkdir(cmd, undefined, false);
  await cleanOutputs(s);
  // A multi-architecture build's own workdirs (WORKDIR/ARCH), each cleaned as a workdir is.
  for (const a of isMultiArch(s) ? archList(s).map((x) => archSettings(s, x)) : []) {
    if (!existsSync(join(a.workdir, OWNER_MARKER))) continue;
    const sub = s.dryRun ? undefined : await openWorkdir({ ...cmd, settings: a }, undefined, false);
    await cleanOutputs(a);
    await sub?.release();
  }
  if (cmd.flags.cache) {
    const cache = cacheDir(s);
    if (s.dryRun) {
      for (const d of CACHE_DIRS) if (existsSync(join(cache, d))) process.stdout.write(`would remove ${join(cache, d)}\n`);
    } else {
      const { clearCache } = await import('../../lib/stale.js');
      for (const k of await clearCache(cache, CACHE_DIRS)) process.stdout.write(`kept ${k}: a running osb is writing it, or it cannot be removed\n`);
      // The cache directory itself, when nothing else is left in it.
      if (existsSync(cache) && !(await readdir(cache)).length) await rmdir(cache);
    }
  }
  await lock?.release();
  return 0;
};

/** A workdir's outputs, logs and build state (not its record, not the cache). */
async function cleanOutputs(s: Settings): Promise<void> {
  const k = kernelPaths(s);
  const o = ociPaths(s);
  const b = bundlePaths(s);
  const q = squashfsPaths(s);
  const sboms = (['rootfs', 'image', 'initrd', 'oci'] as const).flatMap((k) => [...(['spdx', 'cyclonedx'] as const).map((f) => sbomPath({ ...s, sbomFormat: f }, k)), provenancePath(s, k)]);
  const files = [imagePath(s), rootHashPath(s), ...sboms, initrdPath(s), manifestPath(s), scanRecordPath(s), k.vmlinuz, k.vmlinux, k.config, o.archive, o.dockerArchive, b.tar, q.image, q.bootInitrd];
  files.push(...Object.values(ukiPaths(s)), sysextPath(s), sysextUsrHashPath(s), sysextVerityPath(s));
  // --sign-key's envelopes beside each of them (osb.img.intoto.dsse.json, ...).
  const { envelopesBeside } = await import('../targets/sign.js');
  files.push(...[...files, join(s.workdir, 'rootfs')].flatMap((f) => envelopesBeside(f)));
  files.push(siblingMarkerFor(o.layout), siblingMarkerFor(b.dir), join(s.workdir, `.${basename(q.bootInitrd)}.inputs`));
  // The OCI layout and the bundle are directories osb made (each with its marker).
  for (const d of [o.layout, b.dir]) if (existsSync(d)) await assertOwnedOrEmpty(d);
  for (const name of await readdir(s.workdir)) if (/^(vmlinu[xz]|config)-/.test(name)) files.push(join(s.workdir, name));
  const dirs = [join(s.workdir, 'logs'), join(s.workdir, '.osb', 'state'), k.buildDir, o.layout, b.dir];
  const rootfs = rootfsDir(s);
  if (existsSync(siblingMarkerFor(rootfs))) dirs.push(rootfs), files.push(siblingMarkerFor(rootfs));
  for (const p of [...files, ...dirs]) {
    if (!s.dryRun) await rm(p, { recursive: true, force: true });
    else if (existsSync(p)) process.stdout.write(`would remove ${p}\n`);
  }
}
