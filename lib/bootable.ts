/**
 * What makes a tree an operating system osb will make an artefact of, so an empty or near-empty
 * --rootfs-dir is refused instead of giving an image of nothing. The rule (README, `osb help`
 * under --allow-empty):
 *
 * - an init: /sbin/init or /init that leads, inside the tree, to an executable regular file
 *   (/sbin/init is where --agent-init puts the agent, and where systemd-sysv, busybox and
 *   Alpine's packages put theirs; /init is the initramfs convention);
 * - something that says what OS it is: /etc/os-release or /usr/lib/os-release, or the osbuilder
 *   record /var/lib/osbuilder/osbuilder.yaml that osb (and Kata's osbuilder) writes in every
 *   rootfs it builds (osb's Alpine trees have no os-release: that is the alpine-release package).
 *
 * Symlinks are followed the way the guest would follow them, inside the tree: an absolute
 * target starts again at the tree's root, and `..` stops there. Nothing outside the tree is read.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { resolveGuestPath, type GuestPathNode } from './guest-path.js';

export const INIT_PATHS = ['/sbin/init', '/init'] as const;
export const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'] as const;
/** Written by osb (rootfs-builder/manifest.ts) and Kata's osbuilder into every rootfs they build. */
export const OSBUILDER_RECORD = '/var/lib/osbuilder/osbuilder.yaml';

/** `path` (guest view) resolved inside `root`, its symlinks followed inside the tree: the host path and its lstat, or undefined when it leads nowhere. */
export function resolveInTree(root: string, path: string, memo?: Map<string, GuestPathNode<Stats> | undefined>): { path: string; stats: Stats } | undefined {
  const look = (name: string): GuestPathNode<Stats> | undefined => {
    const here = join(root, name);
    let st: Stats;
    try {
      st = lstatSync(here);
    } catch {
      return undefined;
    }
    return { value: st, symlink: st.isSymbolicLink() ? readlinkSync(here) : undefined, dir: st.isDirectory() };
  };
  // Many paths under one directory (a package per /usr/share/doc/NAME): its parents are looked at once.
  const r = resolveGuestPath(path, memo ? (name) => (memo.has(name) ? memo.get(name) : (memo.set(name, look(name)), memo.get(name))) : look);
  return typeof r === 'string' ? undefined : { path: join(root, r.name), stats: r.node.value };
}

/** The host path of the regular file `path` (guest view) names inside `root`, or undefined when it names none. */
export function fileInTree(root: string, path: string, memo?: Map<string, GuestPathNode<Stats> | undefined>): string | undefined {
  const r = resolveInTree(root, path, memo);
  return r?.stats.isFile() ? r.path : undefined;
}

/** `path` (guest view) resolved inside `root`: its lstat, or undefined when it leads nowhere. */
export function statInTree(root: string, path: string): Stats | undefined {
  return resolveInTree(root, path)?.stats;
}

/**
 * What the tree at `root` lacks to be an OS, as a phrase ("is empty", "has no init (...)"), or
 * undefined when it has an init and an os-release. A missing directory is the caller's to report.
 * `container`: an image only a container tool enters (--toolbox, --distrobox) needs a shell, /bin/sh,
 * where a guest needs an init.
 */
export function missingFromTree(root: string, o: { container?: boolean } = {}): string | undefined {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return undefined;
  }
  if (names.length === 0) return 'is empty';
  const lacks: string[] = [];
  const starts = o.container ? ['/bin/sh'] : INIT_PATHS;
  const init = starts.some((p) => {
    const st = statInTree(root, p);
    return st !== undefined && st.isFile() && (st.mode & 0o111) !== 0;
  });
  if (!init) lacks.push(o.container ? 'no shell (an executable /bin/sh)' : `no init (an executable ${INIT_PATHS.join(' or ')})`);
  if (![...OS_RELEASE_PATHS, OSBUILDER_RECORD].some((p) => statInTree(root, p)?.isFile())) lacks.push(`no ${OS_RELEASE_PATHS.join(' or ')} (nor ${OSBUILDER_RECORD})`);
  return lacks.length ? `has ${lacks.join(' and ')}` : undefined;
}
