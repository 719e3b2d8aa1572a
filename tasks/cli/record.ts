/**
 * A workdir remembers its configuration: the input settings earlier commands were given (by
 * flag, environment or osb.yaml) are kept in WORKDIR/.osb/config.json, and the next command in
 * that workdir starts from them. `osb rootfs --distro alpine --agent-init` then a bare
 * `osb image` makes an image of that Alpine rootfs, as Kata's `make rootfs; make image` does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../../lib/atomic.js';
import { LIST_KEYS, settingByKey } from '../settings/table.js';

export type WorkdirRecord = Readonly<Record<string, unknown>>;

export const recordPath = (workdir: string): string => join(workdir, '.osb', 'config.json');

/** Keys of input settings only: a record written by another osb version keeps what still exists. */
const recordable = (key: string): boolean => (LIST_KEYS as string[]).includes(key) || (settingByKey.has(key) && !settingByKey.get(key)!.perRun && key !== 'workdir');

export function readRecord(workdir: string): WorkdirRecord {
  const p = recordPath(workdir);
  if (!existsSync(p)) return {};
  try {
    const doc = JSON.parse(readFileSync(p, 'utf8')) as { settings?: Record<string, unknown> };
    return Object.fromEntries(Object.entries(doc.settings ?? {}).filter(([k]) => recordable(k)));
  } catch {
    return {}; // a damaged record means "start from the defaults", never a crash
  }
}

/** Merge `given` (explicit values of this command) into the workdir's record. */
export async function updateRecord(workdir: string, given: Readonly<Record<string, unknown>>): Promise<void> {
  const next: Record<string, unknown> = { ...readRecord(workdir) };
  let changed = false;
  for (const [k, v] of Object.entries(given)) {
    if (!recordable(k)) continue;
    if (JSON.stringify(next[k]) !== JSON.stringify(v)) changed = true;
    next[k] = v;
  }
  if (!changed && existsSync(recordPath(workdir))) return;
  const sorted = Object.fromEntries(Object.keys(next).sort().map((k) => [k, next[k]]));
  await mkdir(join(workdir, '.osb'), { recursive: true });
  const body = JSON.stringify({ note: 'settings this workdir was given; osb config shows them, osb config --reset forgets them', settings: sorted }, null, 2) + '\n';
  await writeAtomic(recordPath(workdir), (tmp) => writeFile(tmp, body));
}

export async function resetRecord(workdir: string): Promise<boolean> {
  const p = recordPath(workdir);
  if (!existsSync(p)) return false;
  await rm(p);
  return true;
}
