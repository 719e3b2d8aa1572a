/**
 * Extended attributes of a tree (file capabilities above all). Node has no xattr API, so one
 * `getfattr -R` over the whole tree lists them (0.13 s on a Debian minbase rootfs).
 */
import type { BuildContext } from '../lib/context.js';

/** Attributes that describe the build host, not the guest: SELinux labels are set by the guest's policy. */
const SKIP = /^security\.selinux$/;

/** Undo getfattr's escaping of names (`\ooo` octal, `\\`). Returns latin1 (byte) strings. */
export function unescapeGetfattr(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else if (raw[i] === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i += 1;
    } else bytes.push(raw[i]!);
  }
  return Buffer.from(bytes).toString('latin1');
}

/** Parse `getfattr -d -e hex --absolute-names` output into name (relative to root, latin1) -> xattrs. */
export function parseGetfattr(output: string, root: string): Map<string, Map<string, Buffer>> {
  const result = new Map<string, Map<string, Buffer>>();
  const rootName = unescapeGetfattr(root.replace(/\/+$/, ''));
  let current: Map<string, Buffer> | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      const abs = unescapeGetfattr(line.slice(8));
      const rel = abs === rootName ? '' : abs.startsWith(`${rootName}/`) ? abs.slice(rootName.length + 1) : undefined;
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
  const r = await ctx.run(['getfattr', '--absolute-names', '-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', root], {
    readOnly: true,
    quiet: true,
    hint: 'getfattr (package attr) reads file capabilities and other xattrs for the layer',
  });
  return parseGetfattr(r.stdout, root);
}
