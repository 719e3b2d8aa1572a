/** Run the built CLI (dist/) as a user would, capturing its output and exit code. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './fixture-rootfs.js';

/** OSB_TEST_DIST: another build's output directory (tsc --outDir DIR), to test it while dist/ is in use. */
export const OSB = join(process.env.OSB_TEST_DIST ?? join(REPO_ROOT, 'dist'), 'tasks', 'main.cjs');

export interface OsbResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment tests run osb with: CI-style plain output, no inherited osb/Kata settings. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(OSB_|AGENT_|ROOTFS_DIR|EXTRA_PKGS|IMAGE_SIZE|IMG_SIZE|FS_TYPE|BLOCK_SIZE|OS_VERSION|DISTRO|WORKDIR|KERNEL_|DEBUG|SKIP_DAX|ROOT_FREE)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, CI: 'true', ...extra };
}

export function osb(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): OsbResult {
  const r = spawnSync(process.execPath, [OSB, ...args], {
    env: opts.env ?? cleanEnv(),
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 20 * 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start osb in the background (for interrupt tests). */
export function osbSpawn(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  return spawn(process.execPath, [OSB, ...args], { env: opts.env ?? cleanEnv(), cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** osb's own error line ("osb: ..."): the renderer may print a task's failure before it. */
export function errorLine(stderr: string): string | undefined {
  return stderr.split('\n').find((l) => l.startsWith('osb: '));
}
