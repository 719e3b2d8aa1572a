/**
 * Extended attributes of a tree (file capabilities above all). Node has no xattr API, so one
 * `getfattr -R` over the whole tree lists them (0.13 s on a Debian minbase rootfs).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildContext } from '../lib/context.js';

/** Attributes that describe the build host, not the guest: SELinux labels are set by the guest's policy. */
const SKIP = /^security\.selinux$/;

/** Undo getfattr's escaping of names (`\ooo` octal, `\\`) in a latin1 (byte) string. */
export function unescapeGetfattr(s: string): string {
  return s.replace(/\\([0-7]{3}|\\)/g, (_m, e: string) => (e === '\\' ? '\\' : String.fromCharCode(parseInt(e, 8))));
}

/**
 * Parse `getfattr -d -e hex --absolute-names` output, read as latin1 (getfattr prints bytes that
 * are not valid UTF-8 as they are), into name (relative to root, latin1) -> xattrs.
 */
export function parseGetfattr(output: string, root: string): Map<string, Map<string, Buffer>> {
  const result = new Map<string, Map<string, Buffer>>();
  const rootName = Buffer.from(root.replace(/\/+$/, '')).toString('latin1');
  let current: Map<string, Buffer> | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      const abs = unescapeGetfattr(line.slice(8));
      const rel = abs.startsWith(`${rootName}/`) ? abs.slice(rootName.length + 1) : undefined;
      current = rel ? new Map() : undefined;
      if (rel && current) result.set(rel, current);
      continue;
    }
    const m = /^([^=]+)=0x([0-9a-fA-F]*)$/.exec(line);
    if (!m || !current || SKIP.test(m[1]!)) continue;
    current.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  for (const [k, v] of result) if (v.size === 0) result.delete(k);
  return result;
}

/** Every extended attribute under `root`, by relative name. The root directory's own are not included. */
export async function readXattrs(ctx: BuildContext, root: string): Promise<Map<string, Map<string, Buffer>>> {
  // Through a file, not captured text: names that are not UTF-8 must keep their bytes.
  const dir = await mkdtemp(join(tmpdir(), 'osb-getfattr-'));
  try {
    const out = join(dir, 'out');
    await ctx.run(['getfattr', '--absolute-names', '-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', root], {
      readOnly: true,
      quiet: true,
      stdoutFile: out,
      hint: 'getfattr (package attr) reads file capabilities and other xattrs for the layer',
    });
    return parseGetfattr((await readFile(out)).toString('latin1'), root);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
