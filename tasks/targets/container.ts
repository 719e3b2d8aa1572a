/** What the oci and bundle targets give a container runtime to start. */
import type { Settings } from '../settings/table.js';
import { containerTools } from './tree.js';

/**
 * What a container runtime starts: kata-agent itself, or osb's smoke agent under sh, or a shell in an image with no agent. As PID 1
 * the smoke agent behaves as a VM's init and powers the machine off, which a container may not
 * do (it would wait forever); as a child of sh it prints its ready line and exits.
 */
export function containerCommand(s: Settings): string[] {
  // No agent (--no-agent, --toolbox, --distrobox): a shell, as a distro's own base image starts.
  if (!s.agent || containerTools(s).length) return ['/bin/sh'];
  const name = s.agentName ?? (s.agentBin ? 'kata-agent' : 'osb-agent');
  if (s.agentBin) return [`/usr/bin/${name}`];
  return ['/bin/sh', '-c', `${s.agentInit ? '/sbin/init' : `/usr/bin/${name}`}; exit $?`];
}
