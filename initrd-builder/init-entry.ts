/**
 * The kernel runs /init from an initramfs (or panics), so the archive must have one that leads to
 * an executable inside the archive. Symlinks are resolved against the archive, not the build
 * host: /sbin/init -> /lib/systemd/systemd means the guest's systemd.
 */
import { OsbError } from '../lib/errors.js';
import { resolveGuestPath } from '../lib/guest-path.js';
import type { ArchiveEntry } from './scan.js';

const INIT = 'init';
/** Where Kata (AGENT_INIT=yes) and osb --agent-init put the agent. */
export const AGENT_INIT_PATH = '/sbin/init';

const NO_INIT_HINT = 'build the rootfs with --agent-init (AGENT_INIT=yes), or add an /init with --initrd-extra';

/**
 * Resolve `path` (absolute, guest view) through the archive's symlinks. Returns the entry it
 * leads to, or a reason it leads nowhere.
 */
export function resolveInArchive(entries: ReadonlyMap<string, ArchiveEntry>, path: string): ArchiveEntry | string {
  const r = resolveGuestPath(path, (name) => {
    const e = entries.get(name === '' ? '.' : name);
    return e && { value: e, symlink: e.kind === 'symlink' ? e.target!.toString('latin1') : undefined, dir: e.kind === 'dir' };
  });
  return typeof r === 'string' ? r.replace(/ is missing$/, ' is not in the archive') : r.node.value;
}

function checkRunnable(entries: ReadonlyMap<string, ArchiveEntry>, what: string): void {
  const r = resolveInArchive(entries, `/${INIT}`);
  if (typeof r === 'string') throw new OsbError(`${what} leads nowhere: ${r}`, NO_INIT_HINT);
  if (r.kind !== 'file' || (r.mode & 0o111) === 0) {
    throw new OsbError(`${what} leads to /${r.name}, which is not an executable file`, NO_INIT_HINT);
  }
}

/**
 * Make sure `entries` has a working /init. With `agentInit` and no /init of its own, add the
 * symlink /init -> /sbin/init to the archive only (the rootfs on disk is never touched).
 */
export function ensureInit(entries: Map<string, ArchiveEntry>, agentInit: boolean, o: { mtime: number }): void {
  const existing = entries.get(INIT);
  if (existing) {
    checkRunnable(entries, '/init');
    return;
  }
  if (!agentInit) throw new OsbError('rootfs has no /init; an initrd needs one', 'build the rootfs with --agent-init (AGENT_INIT=yes)');
  const target = Buffer.from(AGENT_INIT_PATH);
  entries.set(INIT, {
    name: INIT,
    kind: 'symlink',
    mode: 0o120777,
    uid: 0,
    gid: 0,
    mtime: o.mtime,
    size: target.length,
    rdevMajor: 0,
    rdevMinor: 0,
    target,
  });
  checkRunnable(entries, `/init -> ${AGENT_INIT_PATH} (added for agentInit)`);
}
