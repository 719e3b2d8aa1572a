/**
 * Installing the agent: as /sbin/init (AGENT_INIT=yes), or as /usr/bin/NAME started by an enabled
 * systemd unit, as Kata's rootfs.sh does with kata-agent.service.
 */
import { constants } from 'node:fs';
import { access, chmod, copyFile, stat, symlink, writeFile } from 'node:fs/promises';
import { OsbError } from '../lib/errors.js';
import { freshInTree } from '../lib/in-tree.js';
import { packagePath } from '../lib/package-root.js';

/** The agent file to install: the user's, or the built-in one. Both are checked before any work. */
export function agentSource(agentBin: string | undefined): string {
  return agentBin ?? builtinAgentPath();
}

/** osb's built-in smoke-test agent (POSIX sh; see agent/osb-agent.sh). */
export function builtinAgentPath(): string {
  return packagePath('rootfs-builder', 'agent', 'osb-agent.sh');
}

export async function checkAgentBin(path: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new OsbError(`agent binary ${path} does not exist`, 'pass --agent-bin (AGENT_SOURCE_BIN) the path of a built agent, or leave it unset for the built-in smoke agent');
  }
  if (!st.isFile()) throw new OsbError(`agent binary ${path} is not a file`, 'pass --agent-bin the agent executable itself');
  try {
    await access(path, constants.X_OK);
    if ((st.mode & 0o111) === 0) throw new Error('no x bit');
  } catch {
    throw new OsbError(`agent binary ${path} is not executable`, `chmod +x ${path}`);
  }
}

export interface InstallAgentOptions {
  readonly rootfs: string;
  readonly source: string;
  readonly agentInit: boolean;
  /** /usr/bin/NAME and NAME.service. */
  readonly name: string;
}

/** The systemd unit that starts the agent; output goes to the console too so boots can see it. */
export function agentUnit(name: string): string {
  return `[Unit]
Description=${name} (installed by osb)
Wants=network-online.target
After=systemd-journald.service

[Service]
Type=exec
ExecStart=/usr/bin/${name}
StandardOutput=journal+console
StandardError=journal+console
Restart=no

[Install]
WantedBy=multi-user.target
`;
}

export async function installAgent(o: InstallAgentOptions): Promise<void> {
  // Modes as a package would give them, whatever osb's umask: directories 0755, files 0644/0755.
  // Every path is resolved inside the tree and written as a new file (lib/in-tree.ts).
  const put = async (guest: string, write: (path: string) => Promise<void>, mode: number) => {
    const path = await freshInTree(o.rootfs, guest);
    await write(path);
    await chmod(path, mode);
  };
  await put(`/usr/bin/${o.name}`, (p) => copyFile(o.source, p, constants.COPYFILE_EXCL), 0o755);
  if (o.agentInit) {
    // /sbin/init is the agent itself (a regular file, as Kata moves it there), so tools that do
    // not follow symlinks across filesystems (debugfs, initrd readers) see it as it is.
    await put('/sbin/init', (p) => copyFile(o.source, p, constants.COPYFILE_EXCL), 0o755);
    return;
  }
  await put(`/etc/systemd/system/${o.name}.service`, (p) => writeFile(p, agentUnit(o.name), { flag: 'wx' }), 0o644);
  const link = await freshInTree(o.rootfs, `/etc/systemd/system/multi-user.target.wants/${o.name}.service`);
  await symlink(`/etc/systemd/system/${o.name}.service`, link);
}
