/**
 * A small but real rootfs for tests: Debian's static busybox, osb's smoke agent as /sbin/init,
 * an /etc/os-release naming it, and one of each entry type (hard link, symlink, fifo, device nodes when root).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_SCRIPT = join(REPO_ROOT, 'rootfs-builder', 'agent', 'osb-agent.sh');
export const BUSYBOX = '/bin/busybox';
export const isRoot = process.getuid?.() === 0;

export interface FixtureOptions {
  /** Install the agent as /sbin/init (default true). */
  readonly agentInit?: boolean;
  /** Add device nodes and a fifo (needs root; default: when root). */
  readonly specials?: boolean;
}

/** Build the fixture tree at `dir` (which must not exist yet). Returns `dir`. */
export function makeFixtureRootfs(dir: string, opts: FixtureOptions = {}): string {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} missing: apt-get install busybox-static`);
  for (const d of ['bin', 'sbin', 'etc', 'dev', 'proc', 'sys', 'tmp', 'usr/bin', 'var/lib/data', 'root']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  chmodSync(join(dir, 'tmp'), 0o1777);
  chmodSync(join(dir, 'root'), 0o700);
  copyFileSync(BUSYBOX, join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'mount', 'mountpoint', 'cat', 'cut', 'echo', 'mkdir', 'poweroff', 'sleep', 'sync', 'tr', 'ls', 'uname']) {
    symlinkSync('busybox', join(dir, 'bin', applet));
  }
  writeFileSync(join(dir, 'etc/hostname'), 'osb-fixture\n');
  // It names itself as any OS tree does (osb makes artefacts only of trees with an os-release).
  writeFileSync(join(dir, 'etc/os-release'), 'ID=osb-fixture\nNAME="osb test fixture"\nPRETTY_NAME="osb test fixture (busybox)"\n');
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'var/lib/data/hello.txt'), 'hello from the fixture\n');
  linkSync(join(dir, 'var/lib/data/hello.txt'), join(dir, 'var/lib/data/hello-link.txt'));
  symlinkSync('../../bin/busybox', join(dir, 'usr/bin/env'));
  writeFileSync(join(dir, 'var/lib/data/setuid-tool'), '#!/bin/sh\n');
  chmodSync(join(dir, 'var/lib/data/setuid-tool'), 0o4755);
  if (opts.agentInit ?? true) {
    copyFileSync(AGENT_SCRIPT, join(dir, 'sbin/init'));
    chmodSync(join(dir, 'sbin/init'), 0o755);
  }
  if (opts.specials ?? isRoot) {
    execFileSync('mknod', ['-m', '600', join(dir, 'dev/console'), 'c', '5', '1']);
    execFileSync('mknod', ['-m', '666', join(dir, 'dev/null'), 'c', '1', '3']);
    execFileSync('mkfifo', [join(dir, 'var/lib/data/fifo')]);
  }
  return dir;
}
