/**
 * --toolbox and --distrobox: an image those tools enter with nothing to install first. The packages
 * come from the distro's data (distros/*.ts containerTools); what toolbox's image requirements ask of
 * the tree beyond packages is written here, after the packages and before copyfiles, cmds and hooks,
 * so the user's own steps can still change it.
 */
import { existsSync } from 'node:fs';
import { appendFile, chmod, lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import type { Distro } from '../distros/types.js';
import { inTree } from '../lib/in-tree.js';

export type ContainerTool = 'toolbox' | 'distrobox';

/** The packages the tools need, in the distro's names, each once; a distro without lists is refused. */
export function containerToolPackages(distro: Distro, tools: readonly ContainerTool[]): string[] {
  if (!tools.length) return [];
  const lists = distro.containerTools;
  if (!lists) throw new OsbError(`osb knows no ${tools.map((t) => `--${t}`).join(' or ')} package list for ${distro.name}`, `name the packages yourself with --extra-pkgs (toolbox needs capsh, mount, passwd, useradd, usermod and sudo), or build debian, ubuntu, fedora, centos, rocky, openeuler, opensuse or alpine`);
  return [...new Set(tools.flatMap((t) => lists[t]))];
}

/**
 * A regular file of the tree by its guest path: its directories' symlinks followed inside the tree
 * (lib/in-tree.ts), and the file itself never a symlink, since a parent image is someone else's
 * tree and its link could point a write at the host.
 */
async function treeFile(tree: string, guest: string): Promise<{ path: string; exists: boolean }> {
  const path = await inTree(tree, guest);
  const st = await lstat(path).catch(() => undefined);
  if (st && !st.isFile()) throw new OsbError(`${guest} in the rootfs is not a regular file; osb will not write through it for --toolbox`, 'replace it in a cmds step or a hook, or leave out --toolbox');
  return { path, exists: st !== undefined };
}

/** A directory of the tree by its guest path, made if missing; a link in its place followed inside the tree too. */
async function treeDir(tree: string, guest: string, mode?: number): Promise<void> {
  await mkdir(await inTree(tree, `${guest}/.`), { recursive: true, mode });
}

/**
 * What toolbox's image requirements ask beyond packages: sudo for the group it puts the user in,
 * with no password (toolbox's users have none); /etc/krb5.conf.d a directory; myhostname in the
 * hosts line right after files (toolbox's Debian image does this, so sudo resolves the container's
 * name); flatpak-spawn on PATH where flatpak-xdg-utils installed it.
 */
export async function configureToolbox(ctx: BuildContext, tree: string, distro: Distro): Promise<void> {
  const group = distro.containerTools!.sudoGroup;
  ctx.log.info(`toolbox: sudo without a password for the ${group} group, /etc/krb5.conf.d, nsswitch myhostname`);
  if (ctx.dryRun) return;
  const groups = await treeFile(tree, '/etc/group');
  const names = groups.exists ? (await readFile(groups.path, 'utf8')).split('\n').map((l) => l.split(':')[0]) : [];
  if (!names.includes(group)) throw new OsbError(`the rootfs has no ${group} group, which toolbox puts its user in`, `add the package that creates it with --extra-pkgs, or a cmds step: groupadd ${group}`);
  const sudoers = await treeFile(tree, '/etc/sudoers');
  if (!sudoers.exists) throw new OsbError('the rootfs has no /etc/sudoers after the toolbox packages', 'check that sudo installed (the rootfs log), or name it in --extra-pkgs');
  await treeDir(tree, '/etc/sudoers.d', 0o750);
  const dropIn = await treeFile(tree, '/etc/sudoers.d/toolbox');
  await writeFile(dropIn.path, `# written by osb --toolbox: toolbox's users have no password\n%${group} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
  await chmod(dropIn.path, 0o440);
  // Some sudo builds ship the include commented out.
  if (!/^[@#]includedir\s+\/etc\/sudoers\.d\s*$/m.test(await readFile(sudoers.path, 'utf8'))) await appendFile(sudoers.path, '@includedir /etc/sudoers.d\n');
  await treeDir(tree, '/etc/krb5.conf.d');
  const nss = await treeFile(tree, '/etc/nsswitch.conf');
  if (nss.exists && (await hasMyhostname(tree))) {
    const text = await readFile(nss.path, 'utf8');
    const fixed = text.replace(/^(hosts:.*?\bfiles\b)(?!.*\bmyhostname\b)(.*)$/m, '$1 myhostname$2');
    if (fixed !== text) await writeFile(nss.path, fixed);
  }
  const spawn = '/usr/libexec/flatpak-xdg-utils/flatpak-spawn';
  const link = await inTree(tree, '/usr/bin/flatpak-spawn');
  if (existsSync(await inTree(tree, spawn)) && !(await lstat(link).catch(() => undefined))) await symlink(spawn, link);
}

/** The myhostname NSS module in the tree's library directories (or their multiarch subdirectories). */
async function hasMyhostname(tree: string): Promise<boolean> {
  for (const d of ['/usr/lib', '/usr/lib64']) {
    const dir = await inTree(tree, d);
    const subs = await readdir(dir).catch(() => [] as string[]);
    if (['', ...subs].some((sub) => existsSync(join(dir, sub, 'libnss_myhostname.so.2')))) return true;
  }
  return false;
}
