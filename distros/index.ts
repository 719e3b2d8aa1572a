/** The distro registry. */
import { OsbError } from '../lib/errors.js';
import { hostArchName } from '../lib/host.js';
import { alpine } from './alpine.js';
import { azurelinux } from './azurelinux.js';
import { centos } from './centos.js';
import { clearlinux } from './clearlinux.js';
import { debian } from './debian.js';
import { fedora } from './fedora.js';
import { openeuler } from './openeuler.js';
import { opensuse } from './opensuse.js';
import { rocky } from './rocky.js';
import type { Arch, Distro } from './types.js';
import { ubuntu } from './ubuntu.js';

export const DISTROS: readonly Distro[] = [debian, ubuntu, alpine, fedora, centos, rocky, openeuler, azurelinux, opensuse, clearlinux];

export function getDistro(name: string): Distro {
  const d = DISTROS.find((x) => x.name === name);
  if (!d) throw new OsbError(`unknown distro '${name}'`, `supported distros: ${DISTROS.map((x) => x.name).join(', ')}`);
  return d;
}

/** The host's architecture in osb's names. */
export const hostArch = (): Arch => hostArchName() as Arch;

export function resolveRelease(d: Distro, release: string | undefined): string {
  let r = release ?? d.defaultRelease;
  // Kata's spelling of Alpine branches: OS_VERSION=3.22 means v3.22 (its config.sh adds the v).
  if (!d.releases.includes(r) && d.releases.includes(`v${r}`)) r = `v${r}`;
  if (!d.releases.includes(r)) {
    throw new OsbError(`unknown ${d.name} release '${r}'`, `${d.name} releases osb knows: ${d.releases.join(', ')}`);
  }
  return r;
}

export function resolveArch(d: Distro, arch: string | undefined): { arch: Arch; distroArch: string } {
  const a = (arch ?? hostArch()) as Arch;
  const distroArch = d.arches[a];
  if (!distroArch) throw new OsbError(`${d.name} has no architecture '${a}'; it has ${Object.keys(d.arches).join(', ')}`, `pass one of them with --arch (or ARCH=)`);
  return { arch: a, distroArch };
}

export type { Arch, Distro } from './types.js';
