/**
 * sysext-builder: a systemd system extension (systemd-sysext(8)) of a tree: a /usr (and /opt)
 * only file system image whose usr/lib/extension-release.d/extension-release.NAME names the base
 * OS it extends by the base's ID and VERSION_ID (and SYSEXT_LEVEL where the base has one), as
 * the UAPI extension image format asks. The image is a bare erofs or squashfs: a discoverable
 * disk image in its single-file-system form, which systemd-sysext and systemd-dissect take as
 * NAME.raw. Measured, the file system is the /usr partition of a GPT DDI beside its usr-verity
 * partition, and the root hash goes beside the image as NAME.usrhash (disk.ts).
 *
 *   check tree → copy into a stage beside the output → extension-release → mkfs → check → rename
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, rm, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tmpPathFor, writeAtomic } from '../lib/atomic.js';
import { withCleanup } from '../lib/cleanup.js';
import type { BuildContext } from '../lib/context.js';
import { dpsType, verityPartitionUuids } from '../lib/dps.js';
import { OsbError, UsageError } from '../lib/errors.js';
import { formatVerity, writeDisk } from './disk.js';

export type SysextFs = 'erofs' | 'squashfs';
export const SYSEXT_FILESYSTEMS: readonly SysextFs[] = ['erofs', 'squashfs'];

export interface SysextOptions {
  /** The extension's content: a tree holding usr/ (and opt/) only. */
  readonly treeDir: string;
  /** The base OS tree the extension is for: its os-release gives ID and VERSION_ID. */
  readonly baseDir: string;
  /** The extension's name: the image is NAME.raw and its release file extension-release.NAME. */
  readonly name: string;
  readonly fs: SysextFs;
  readonly output: string;
  /** Seed of the erofs UUID (the inputs hash), so two builds give the same bytes. */
  readonly uuid: string;
  /**
   * Measured: the file system as the /usr partition of a GPT DDI beside its usr-verity partition
   * (the arch's DPS types, UUIDs from the root hash as the spec says), the root hash in
   * `usrHashFile` (NAME.usrhash, which systemd reads beside NAME.raw).
   */
  readonly verity?: { readonly arch: string | undefined; readonly salt: string; readonly verityUuid: string; readonly diskGuid: string; readonly usrHashFile: string };
}

/** Top-level directories a system extension may carry (systemd-sysext merges /usr and /opt). */
const ALLOWED_TOP = ['usr', 'opt'];

/** A name systemd takes for an extension: no slash, no leading dot, and not empty. */
export function checkSysextName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.endsWith('.raw')) {
    throw new UsageError(`"${name}" is not a system extension name`, 'use letters, digits, ".", "_" and "-", without ".raw" (the image is NAME.raw)');
  }
}

/** ID, VERSION_ID and SYSEXT_LEVEL of the base tree's os-release (read as files inside the tree, never through a link). */
export function baseRelease(baseDir: string): Record<string, string> {
  const file = ['usr/lib/os-release', 'etc/os-release'].map((p) => join(baseDir, p)).find((p) => {
    try {
      return lstatSync(p).isFile();
    } catch {
      return false;
    }
  });
  if (!file) throw new UsageError(`the base tree ${baseDir} has no os-release (usr/lib/os-release or etc/os-release) to name in the extension`, 'build the rootfs first (osb rootfs), or point --rootfs-dir at the base OS tree');
  const fields: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(ID|VERSION_ID|SYSEXT_LEVEL)=(.*)$/.exec(line.trim());
    if (m) fields[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  if (!fields.ID) throw new UsageError(`${file} has no ID= line, which the extension must match`, 'give the base tree an os-release with ID=');
  return fields;
}

/** The extension-release file: ID, then VERSION_ID or SYSEXT_LEVEL as the base has them. */
export function extensionRelease(base: Record<string, string>): string {
  return ['ID', 'VERSION_ID', 'SYSEXT_LEVEL'].filter((k) => base[k]).map((k) => `${k}=${base[k]}\n`).join('');
}

/** The names at the top of an extension tree, which must be a directory (not a link to one). */
export function treeEntries(treeDir: string, hint: string): string[] {
  try {
    if (!lstatSync(treeDir).isDirectory()) throw new Error('not a directory');
    return readdirSync(treeDir);
  } catch {
    throw new UsageError(`the extension tree ${treeDir} is not a directory`, hint);
  }
}

/** Refuse a tree systemd-sysext would refuse or that would shadow the base's identity. */
export function checkSysextTree(treeDir: string, name: string, measured = false): void {
  const top = treeEntries(treeDir, 'point --sysext-tree at a directory holding usr/');
  const bad = top.filter((e) => !ALLOWED_TOP.includes(e));
  if (bad.length) throw new UsageError(`the extension tree ${treeDir} holds ${bad.map((b) => `/${b}`).join(', ')}: a system extension carries /usr and /opt only`, 'move those files under usr/ (or leave them out)');
  if (!top.includes('usr') || !lstatSync(join(treeDir, 'usr')).isDirectory()) throw new UsageError(`the extension tree ${treeDir} has no usr/ directory`, 'put the files the extension adds under usr/');
  // A DDI's /usr partition holds /usr alone: the spec has no partition for /opt.
  if (measured && top.includes('opt')) throw new UsageError(`the extension tree ${treeDir} holds /opt, and a measured extension is a /usr partition (the discoverable partitions spec has none for /opt)`, 'move those files under usr/, or build the extension without --measured-rootfs');
  // osb writes usr/lib/extension-release.d/ in its copy of the tree: each step must be a real
  // directory there, or a link could point that write outside the tree.
  refuseLinkedDirs(treeDir, `the extension tree ${treeDir}`);
  for (const f of ['usr/lib/os-release']) {
    if (exists(join(treeDir, f))) throw new UsageError(`the extension tree ${treeDir} carries /${f}: it would replace the base's`, `remove ${f} from the tree`);
  }
  const rel = join(treeDir, 'usr/lib/extension-release.d');
  if (exists(rel)) {
    const others = readdirSync(rel).filter((f) => f !== `extension-release.${name}`);
    if (others.length) throw new UsageError(`the extension tree ${treeDir} already carries ${others.map((o) => `usr/lib/extension-release.d/${o}`).join(', ')}`, `remove it: osb writes extension-release.${name} from the base's os-release`);
  }
}

/** The directories osb writes into, under `root`. */
const RELEASE_DIRS = ['usr', 'usr/lib', 'usr/lib/extension-release.d'];

function refuseLinkedDirs(root: string, what: string): void {
  for (const d of RELEASE_DIRS) {
    let st;
    try {
      st = lstatSync(join(root, d));
    } catch {
      return; // absent: osb makes it, and nothing below it exists
    }
    if (!st.isDirectory()) throw new UsageError(`${what} has /${d} as a ${st.isSymbolicLink() ? 'symbolic link' : 'file'}: osb writes the extension's release file below it`, `make /${d} a directory in the tree`);
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Build the extension image at `o.output`; nothing is left under its name if any step fails. */
export async function buildSysext(ctx: BuildContext, o: SysextOptions): Promise<{ release: string }> {
  checkSysextName(o.name);
  if (!SYSEXT_FILESYSTEMS.includes(o.fs)) throw new UsageError(`unknown extension file system "${o.fs}"`, `use one of ${SYSEXT_FILESYSTEMS.join(', ')}`);
  const treeDir = resolve(o.treeDir);
  const output = resolve(o.output);
  if (ctx.dryRun) {
    // In a dry run the base may be a rootfs the plan builds first: its identity is known only then.
    const release = existsSync(resolve(o.baseDir)) ? extensionRelease(baseRelease(resolve(o.baseDir))) : '';
    const names = release ? ` (${release.trim().replace(/\n/g, ', ')})` : `, the ID and VERSION_ID of ${resolve(o.baseDir)} once it is built,`;
    ctx.log.info(`would copy ${treeDir} with usr/lib/extension-release.d/extension-release.${o.name}${names} into ${o.fs} at ${output}`);
    return { release };
  }
  const release = extensionRelease(baseRelease(resolve(o.baseDir)));
  checkSysextTree(treeDir, o.name, o.verity !== undefined);
  const stage = tmpPathFor(output, '.osb-sysext-stage-');
  const fsFile = tmpPathFor(output, '.osb-sysext-fs-');
  const hashFile = tmpPathFor(output, '.osb-sysext-hash-');
  const rootHash = await writeAtomic(output, async (out) =>
    withCleanup(
      () => Promise.all([stage, fsFile, hashFile].map((p) => rm(p, { recursive: true, force: true }))).then(() => undefined),
      async () => {
        // Unmeasured, the file system is the image; measured, it becomes the DDI's /usr partition.
        const tmp = o.verity ? fsFile : out;
        // A bare extension's file system is the tree (usr/, opt/); a /usr partition's is /usr itself.
        const src = o.verity ? join(stage, 'usr') : stage;
        // A copy, so the user's tree is never written; reflinked where the file system can.
        await mkdir(stage, { recursive: true });
        await ctx.run(['cp', '-a', '--reflink=auto', `${treeDir}/.`, `${stage}/`], { quiet: true });
        // Checked again on the copy, which is what is written: the tree may have changed since.
        refuseLinkedDirs(stage, `the extension tree ${treeDir}`);
        const relDir = join(stage, 'usr/lib/extension-release.d');
        await mkdir(relDir, { recursive: true });
        const relFile = join(relDir, `extension-release.${o.name}`);
        // The tree's own copy of the file (even a link) is replaced, never written through.
        await rm(relFile, { force: true });
        await writeFile(relFile, release, { mode: 0o644, flag: 'wx' });
        const t = new Date(ctx.sourceDateEpoch * 1000);
        await utimes(relFile, t, t);
        const env = { SOURCE_DATE_EPOCH: String(ctx.sourceDateEpoch) };
        if (o.fs === 'erofs') {
          // Uncompressed: an extension is small, and every kernel with erofs reads it.
          // With SOURCE_DATE_EPOCH, mkfs.erofs clamps newer mtimes to it.
          await ctx.run(['mkfs.erofs', '--quiet', '-U', o.uuid, tmp, src], { env, hint: 'mkfs.erofs is in package erofs-utils' });
          await ctx.run(['fsck.erofs', tmp], { readOnly: true, quiet: true });
        } else {
          await ctx.run(['mksquashfs', src, tmp, '-noappend', '-comp', 'zstd', '-no-progress', '-quiet'], { quiet: true, env, hint: 'mksquashfs is in package squashfs-tools' });
          const fh = await open(tmp, 'r');
          const sb = Buffer.alloc(4);
          await fh.read(sb, 0, 4, 0).finally(() => fh.close());
          const head = sb.toString('latin1');
          if (head !== 'hsqs') throw new OsbError(`${output}: mksquashfs wrote no squashfs superblock`, 'check free space and the mksquashfs log');
        }
        if (!o.verity) return undefined;
        // With its superblock, as systemd opens a verity partition (crypt_load); the UUID from the inputs.
        const { rootHash } = await formatVerity(ctx, fsFile, hashFile, { salt: o.verity.salt, uuid: o.verity.verityUuid, noSuperblock: false });
        const [usrUuid, verityUuid] = verityPartitionUuids(rootHash);
        await writeDisk(ctx, out, { label: 'gpt', id: o.verity.diskGuid }, [
          { file: fsFile, type: dpsType('usr', o.verity.arch), uuid: usrUuid, name: o.name },
          { file: hashFile, type: dpsType('usr-verity', o.verity.arch), uuid: verityUuid, name: `${o.name}-verity` },
        ]);
        return rootHash;
      },
    ),
  );
  if (o.verity && rootHash) await writeAtomic(resolve(o.verity.usrHashFile), (tmp) => writeFile(tmp, `${rootHash}\n`, { mode: 0o644 }));
  ctx.log.info(`wrote ${output} (system extension ${o.name} for ${release.trim().replace(/\n/g, ', ')}, ${o.fs}${o.verity ? `, dm-verity root hash ${rootHash} in ${o.verity.usrHashFile}` : ''})`);
  return { release };
}
