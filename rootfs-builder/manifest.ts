/**
 * What was built: WORKDIR/rootfs.manifest.json for people and tools, and Kata's
 * /var/lib/osbuilder/osbuilder.yaml inside the rootfs for compatibility.
 */
import { stringify } from 'yaml';
import { dirInTree, freshInTree } from '../lib/in-tree.js';
import { writeFileMode } from '../lib/modes.js';

export interface RootfsManifest {
  readonly tool: 'osb';
  readonly distro: string;
  readonly release: string;
  readonly arch: string;
  readonly mirror: string;
  readonly agentInit: boolean;
  /** Docs, man/info pages and translations left out. */
  readonly slim: boolean;
  /** null: built with --no-agent (a plain OS image). */
  readonly agent: { readonly name: string; readonly source: string; readonly sha256: string; readonly builtin: boolean } | null;
  readonly extraPackages: readonly string[];
  /** --toolbox / --distrobox: the tools, and the packages installed for them beyond extraPackages. */
  readonly containerTools?: { readonly tools: readonly string[]; readonly packages: readonly string[] };
  /** dnf groups / zypper patterns asked for (RPM distros). */
  readonly packageGroups?: readonly string[];
  /** Extra repositories (RPM distros). */
  readonly repos?: readonly { url: string; alias?: string; key?: string; keyUrl?: string; keySha256?: string; keyFingerprints?: readonly string[] }[];
  /** dnf module commands run before the packages. */
  readonly modules?: readonly { readonly command: string; readonly specs: readonly string[] }[];
  /** remove_packages: removed after the installs. */
  readonly removedPackages?: readonly string[];
  readonly copyfiles?: readonly { src: string; dest: string }[];
  readonly cmds?: readonly string[];
  readonly hooks: readonly string[];
  readonly packages: readonly { name: string; version: string; arch: string }[];
  readonly inputsHash: string;
  readonly sourceDateEpoch: number;
}

/** Kata's osbuilder.yaml fields, so tools that read it keep working. */
export async function writeOsbuilderYaml(rootfs: string, m: RootfsManifest): Promise<void> {
  // As Kata's rootfs.sh leaves them, whatever osb's umask: 0755 and 0644; resolved inside the
  // tree and written as a new file (lib/in-tree.ts).
  await dirInTree(rootfs, '/var/lib/osbuilder', 0o755);
  const doc = {
    'schema-version': '0.0.2',
    'osbuilder-version': 'osb',
    description: `osb rootfs for ${m.distro} ${m.release}`,
    'build-date': new Date(m.sourceDateEpoch * 1000).toISOString(),
    // As Kata's rootfs.sh writes it (uname -m names: x86_64, aarch64).
    architecture: m.arch,
    distro: { name: m.distro, version: m.release, packages: { default: m.packages.map((p) => p.name), extra: [...m.extraPackages] } },
    ...(m.agent ? { agent: { 'agent-is-init-daemon': m.agentInit ? 'yes' : 'no', name: m.agent.name, sha256: m.agent.sha256 } } : {}),
  };
  await writeFileMode(await freshInTree(rootfs, '/var/lib/osbuilder/osbuilder.yaml'), stringify(doc), 0o644);
}
