/**
 * The engine registry: the distro's `engine` names which one bootstraps its trees. The engines
 * and what they take are in ./types.ts.
 */
import type { Distro } from '../../distros/types.js';
import type { Engine } from './types.js';

export type { BootstrapOptions, Engine, ExtraRepo, InstalledPackage } from './types.js';

export async function engineFor(d: Distro): Promise<Engine> {
  switch (d.engine) {
    case 'apt':
      return (await import('./apt.js')).aptEngine;
    case 'apk':
      return (await import('./apk/index.js')).apkEngine;
    case 'dnf':
      return (await import('./rpm/dnf.js')).dnfEngine;
    case 'zypper':
      return (await import('./rpm/zypper.js')).zypperEngine;
  }
}
