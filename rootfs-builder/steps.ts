/**
 * The steps image-build runs after the packages, on the staged tree: copyfiles, then cmds.
 * Files are copied by osb (no container engine) and never through a symlink out of the tree;
 * commands run chrooted into the tree in a private mount namespace, with /proc, /sys, a few
 * device nodes and the host's resolv.conf mounted there, so every mount ends with the command:
 * none can leak, and a killed osb leaves none behind.
 */
import { constants, existsSync } from 'node:fs';
import { chmod, chown, copyFile, lchown, lstat, readdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { dirInTree, freshInTree, inTree } from '../lib/in-tree.js';
import type { BuildContext } from '../lib/context.js';
import { CommandError, OsbError } from '../lib/errors.js';

export interface CopyStep {
  readonly src: string;
  readonly dest: string;
  readonly mode?: number;
  readonly owner?: string;
}

export interface CmdStep {
  readonly cmd: string;
  readonly loglevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/**
 * `src` into the tree at the guest path `dest`: every name resolved inside the tree, nothing
 * written through a link or into an existing file (lib/in-tree.ts): a file or link there is replaced.
 */
async function copyTree(src: string, root: string, dest: string, o: CopyStep, ids: [number, number]): Promise<number> {
  const what = `copyfiles dest ${o.dest}`;
  const st = await lstat(src);
  if (st.isDirectory()) {
    const at = await inTree(root, dest, what);
    const was = await lstat(at).catch(() => undefined);
    if (was && !was.isDirectory()) await rm(at, { force: true });
    const dir = await dirInTree(root, dest, 0o755, what);
    let n = 0;
    for (const name of (await readdir(src)).sort()) n += await copyTree(join(src, name), root, posix.join(dest, name), o, ids);
    await chmod(dir, o.mode ?? st.mode & 0o7777);
    await chown(dir, ...ids);
    return n;
  }
  if (!st.isSymbolicLink() && !st.isFile()) throw new OsbError(`copyfiles src ${src} is not a file, directory or symlink`);
  const path = await freshInTree(root, dest, what);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), path);
    await lchown(path, ...ids).catch(() => undefined);
    return 1;
  }
  await copyFile(src, path, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
  await chmod(path, o.mode ?? st.mode & 0o7777);
  await chown(path, ...ids);
  return 1;
}

/** Check the sources before any build: each exists. */
export async function checkCopyfiles(steps: readonly CopyStep[]): Promise<void> {
  for (const c of steps) {
    if (!existsSync(c.src)) throw new OsbError(`copyfiles src ${c.src} does not exist`, 'fix the path (relative paths are relative to the config file)');
  }
}

/** image-build's copyfiles: `src` into the tree at `dest` (into it when dest ends in / or is a directory). */
export async function copyFiles(ctx: BuildContext, root: string, steps: readonly CopyStep[]): Promise<void> {
  for (const c of steps) {
    ctx.log.info(`copying ${c.src} to ${c.dest}`);
    if (ctx.dryRun) continue;
    const what = `copyfiles dest ${c.dest}`;
    let dest = posix.normalize(`/${c.dest}`);
    const srcIsDir = (await stat(c.src)).isDirectory();
    const destIsDir = (await stat(await inTree(root, `${dest}/.`, what)).catch(() => undefined))?.isDirectory();
    if (!srcIsDir && (c.dest.endsWith('/') || destIsDir)) dest = posix.join(dest, c.src.split('/').pop()!);
    const [uid, gid] = (c.owner ?? '0:0').split(':').map(Number) as [number, number];
    const n = await copyTree(c.src, root, dest, c, [uid, gid]);
    ctx.log.debug(`copied ${n} file${n === 1 ? '' : 's'} to ${c.dest}`);
  }
}

/** The shell each command runs with: bash when the tree has it (as image-build's buildah run bash -c), else sh. */
function shellOf(root: string): string {
  for (const sh of ['/bin/bash', '/usr/bin/bash', '/bin/sh', '/usr/bin/sh']) if (existsSync(join(root, sh))) return sh;
  throw new OsbError('cmds need a shell in the rootfs, and it has neither bash nor sh', 'install one with packages (bash), or drop the cmds');
}

/**
 * What runs on the host (as root, in its own mount namespace): mount what a command expects, then
 * chroot into the tree. $1 is the tree, $2 the shell, $3 the command.
 */
const CHROOT_SCRIPT = [
  'set -e',
  'r=$1',
  '[ -d "$r/proc" ] && mount -t proc proc "$r/proc"',
  '[ -d "$r/sys" ] && mount -t sysfs -o ro sysfs "$r/sys"',
  'if [ -d "$r/dev" ]; then',
  '  mount -t tmpfs -o mode=0755,nosuid tmpfs "$r/dev"',
  '  for d in null zero full random urandom tty; do : > "$r/dev/$d"; mount --bind "/dev/$d" "$r/dev/$d"; done',
  '  mkdir -p "$r/dev/pts" "$r/dev/shm"; ln -s /proc/self/fd "$r/dev/fd"',
  'fi',
  '[ -f "$r/etc/resolv.conf" ] && [ ! -L "$r/etc/resolv.conf" ] && [ -f /etc/resolv.conf ] && mount --bind -o ro /etc/resolv.conf "$r/etc/resolv.conf"',
  'exec chroot "$r" "$2" -c "$3"',
].join('\n');

export function cmdArgv(root: string, shell: string, cmd: string): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--fork', '--pid', '--mount-proc=/proc', 'sh', '-c', CHROOT_SCRIPT, 'osb-cmd', root, shell, cmd];
}

/** image-build's cmds, in order; each one's error output is shown at its loglevel, and a failure stops the build naming the command. */
export async function runCmds(ctx: BuildContext, root: string, steps: readonly CmdStep[], env: Readonly<Record<string, string>> = {}): Promise<void> {
  if (!steps.length) return;
  // --dry-run: the tree does not exist yet to say which shell it has.
  const shell = ctx.dryRun ? '' : shellOf(root);
  for (const c of steps) {
    if (ctx.dryRun) {
      ctx.log.info(`would run chrooted in the rootfs (its bash -c, else sh -c): ${c.cmd}`);
      continue;
    }
    ctx.log.info(`running in the rootfs: ${c.cmd}`);
    const show = { DEBUG: ctx.log.debug, INFO: ctx.log.info, WARN: ctx.log.warn, ERROR: ctx.log.warn }[c.loglevel].bind(ctx.log);
    try {
      const r = await ctx.run(cmdArgv(root, shell, c.cmd), {
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', ...env },
        hint: `the command ran chrooted into the staged rootfs with ${shell} -c`,
      });
      // As image-build shows them: the output as progress, the errors at the command's loglevel (DEBUG: only with --debug).
      const lines = (t: string) => t.split('\n').filter((l) => l.trim());
      for (const line of lines(r.stdout)) (c.loglevel === 'DEBUG' ? ctx.log.debug : ctx.log.info).call(ctx.log, line);
      for (const line of lines(r.stderr)) show(line);
    } catch (e) {
      if (e instanceof CommandError) {
        throw new OsbError(`cmds: '${c.cmd}' failed with exit code ${e.code}${e.tail.length ? `: ${e.tail[e.tail.length - 1]}` : ''}`, 'fix the command; the previous rootfs was left as it was');
      }
      throw e;
    }
  }
}

