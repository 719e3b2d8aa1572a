/**
 * Cleanups that must run on every exit path: temporary outputs, loop devices, mounts.
 * Registered while a resource is held and run in reverse order on failure, SIGINT or SIGTERM.
 */
type Cleanup = () => void | Promise<void>;
const pending = new Map<number, Cleanup>();
let next = 0;

/** Register `fn`; returns a function that unregisters it (call it once the resource is released). */
export function onCleanup(fn: Cleanup): () => void {
  const id = next++;
  pending.set(id, fn);
  return () => {
    pending.delete(id);
  };
}

/** Run every pending cleanup (newest first), ignoring their errors. */
export async function runCleanups(): Promise<void> {
  const fns = [...pending.entries()].sort((a, b) => b[0] - a[0]);
  pending.clear();
  for (const [, fn] of fns) {
    try {
      await fn();
    } catch {
      // best effort: a cleanup must never hide the error that led here
    }
  }
}

/** Run `body` with `cleanup` registered; cleanup runs whether body succeeds or throws. */
export async function withCleanup<T>(cleanup: Cleanup, body: () => Promise<T>): Promise<T> {
  const release = onCleanup(cleanup);
  try {
    return await body();
  } finally {
    release();
    await cleanup();
  }
}
