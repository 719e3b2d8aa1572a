/**
 * Follow a path the way the guest's kernel would, inside a tree osb holds (a directory on disk,
 * or the entries of an archive): an absolute symlink target starts again at the tree's root, `..`
 * stops there, and at most 40 symlinks are followed (the kernel's MAXSYMLINKS). Nothing outside
 * the tree is ever looked at: `look` is asked only for names inside it.
 */
const MAX_SYMLINK_HOPS = 40;

/** What `look` says of one name: the thing itself, its symlink target if it is one, and whether it is a directory. */
export interface GuestPathNode<T> {
  readonly value: T;
  readonly symlink?: string;
  readonly dir: boolean;
}

/**
 * The node `path` leads to, or why it leads nowhere (`/NAME is missing`, `/NAME is not a
 * directory`, `too many levels of symlinks at /NAME`). `look('')` is the root.
 */
export function resolveGuestPath<T>(path: string, look: (name: string) => GuestPathNode<T> | undefined): { name: string; node: GuestPathNode<T> } | string {
  let pending = path.split('/').filter((c) => c && c !== '.');
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const name = [...done, part].join('/');
    const n = look(name);
    if (!n) return `/${name} is missing`;
    if (n.symlink !== undefined) {
      if (++hops > MAX_SYMLINK_HOPS) return `too many levels of symlinks at /${name}`;
      if (n.symlink.startsWith('/')) done.length = 0;
      pending = [...n.symlink.split('/').filter((c) => c && c !== '.'), ...pending];
      continue;
    }
    if (pending.length > 0 && !n.dir) return `/${name} is not a directory`;
    done.push(part);
  }
  const name = done.join('/');
  const n = look(name);
  return n ? { name, node: n } : `/${name} is missing`;
}
