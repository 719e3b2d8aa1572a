/** Host capabilities osb needs to know about: privileges, user namespaces, KVM, loop devices. */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const isRoot = (): boolean => process.getuid?.() === 0;

/** The host's architecture in osb's names (Node's x64 is x86_64, arm64 is aarch64). */
export function hostArchName(): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? 'x86_64';
}

/** Whether an unprivileged user can create user namespaces (mmdebstrap --mode=unshare). */
export function userNamespacesAvailable(): boolean {
  try {
    const clone = '/proc/sys/kernel/unprivileged_userns_clone';
    if (existsSync(clone) && readFileSync(clone, 'utf8').trim() === '0') return false;
    const max = readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim();
    return Number(max) > 0 && which('newuidmap') !== undefined;
  } catch {
    return false;
  }
}

/** Absolute path of an executable on PATH, or undefined. */
export function which(tool: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}
