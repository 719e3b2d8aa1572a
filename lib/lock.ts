/**
 * One writer per workdir: a lock file created atomically (link(2) of a complete temporary file,
 * which fails when the lock exists), naming its holder's pid, start time and command. A holder
 * that died, even by SIGKILL, blocks nobody: its pid is gone, or belongs to a newer process with
 * another start time, and the next osb takes the lock over at once.
 */
import { readFileSync } from 'node:fs';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { onCleanup } from './cleanup.js';
import { OsbError } from './errors.js';

export interface LockHolder {
  readonly pid: number;
  /** The process's start time (clock ticks since boot, /proc/PID/stat field 22). */
  readonly start: string;
  /** What it runs, e.g. "osb kernel". */
  readonly command: string;
}

/** Start time of a live process, or undefined when there is no such process. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Is the process that wrote a pid-tagged file or lock still running? */
export function pidAlive(pid: number, start?: string): boolean {
  const now = processStart(pid);
  return now !== undefined && (start === undefined || now === start);
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

export interface AcquireOptions {
  /** Wait for the holder (default) or fail at once. */
  readonly wait: boolean;
  /** Called once when the lock is held by someone else and we start waiting. */
  readonly onWait?: (holder: LockHolder) => void;
  /** Message when the lock is held and `wait` is false. */
  readonly busyMessage: (holder: LockHolder) => string;
  readonly signal?: AbortSignal;
  /** Poll interval while waiting, ms. */
  readonly pollMs?: number;
}

/** Take the lock at `path`; returns its release. */
export async function acquireLock(path: string, command: string, o: AcquireOptions): Promise<() => Promise<void>> {
  const me: LockHolder = { pid: process.pid, start: processStart(process.pid) ?? '', command };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(me) + '\n');
  let told = false;
  try {
    for (;;) {
      try {
        await link(tmp, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = await readHolder(path);
      if (!holder || !pidAlive(holder.pid, holder.start)) {
        await takeOverStale(path, holder);
        continue;
      }
      if (!o.wait) throw new OsbError(o.busyMessage(holder), 'wait for it to finish, or run again without --no-wait to wait');
      if (!told) {
        o.onWait?.(holder);
        told = true;
      }
      if (o.signal?.aborted) throw o.signal.reason;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
    }
  } finally {
    await rm(tmp, { force: true });
  }
  const release = async () => {
    unregister();
    const h = await readHolder(path);
    if (h?.pid === me.pid && h.start === me.start) await rm(path, { force: true });
  };
  const unregister = onCleanup(release);
  return release;
}

/**
 * Remove a dead holder's lock. Two waiters may both see it dead: each moves the lock aside under
 * its own name and checks it moved the dead one; a live lock taken meanwhile is put back.
 */
async function takeOverStale(path: string, dead: LockHolder | undefined): Promise<void> {
  const aside = `${path}.stale-${process.pid}`;
  try {
    await rename(path, aside);
  } catch {
    return; // someone else moved it
  }
  const moved = await readHolder(aside);
  if (moved && dead && (moved.pid !== dead.pid || moved.start !== dead.start) && pidAlive(moved.pid, moved.start)) {
    await link(aside, path).catch(() => {});
  }
  await rm(aside, { force: true });
}
