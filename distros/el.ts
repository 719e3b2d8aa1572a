/**
 * Enterprise Linux, what CentOS Stream and Rocky Linux share: Fedora's engine and package names,
 * four arches, and archives laid out alike, BaseOS and AppStream side by side under each release.
 */
import { fedora } from './fedora.js';
import type { Distro, RpmDistro, RpmRepository } from './types.js';

/** The base CentOS Stream and Rocky extend: Fedora's, with EL's own arches and two repositories. */
export const el: Distro = {
  ...fedora,
  arches: { x86_64: 'x86_64', aarch64: 'aarch64', ppc64le: 'ppc64le', s390x: 's390x' },
  components: ['baseos', 'appstream'],
};

/** BaseOS and AppStream of one release, whose directory is `root` (ending in a slash). */
export function elRepositories(root: string, arch: string): RpmRepository[] {
  return [
    { id: 'baseos', baseurl: `${root}BaseOS/${arch}/os/` },
    { id: 'appstream', baseurl: `${root}AppStream/${arch}/os/` },
  ];
}

/** EL9 keeps the rpm database in /var/lib/rpm; EL10 moved it to /usr/lib/sysimage/rpm. Both sqlite. */
export function elRpmdb(major: string): ReturnType<RpmDistro['rpmdb']> {
  return { path: major === '9' ? '/var/lib/rpm' : '/usr/lib/sysimage/rpm', backend: 'sqlite' };
}
