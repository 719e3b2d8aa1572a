/** Ubuntu extends Debian: same engine and packages, Ubuntu's archive, releases and keyring. */
import { debian } from './debian.js';
import type { Arch, Distro } from './types.js';

export const ubuntu: Distro = {
  ...debian,
  name: 'ubuntu',
  describe: 'Ubuntu (mmdebstrap, minbase)',
  defaultRelease: 'noble',
  releases: ['focal', 'jammy', 'noble', 'oracular', 'plucky', 'questing'],
  // amd64 (and i386) live on archive.ubuntu.com; every other arch on ports.ubuntu.com.
  defaultMirror: (arch: Arch) => (arch === 'x86_64' ? 'http://archive.ubuntu.com/ubuntu' : 'http://ports.ubuntu.com/ubuntu-ports'),
  components: ['main', 'universe'],
  keyring: '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
  keyringPackage: 'ubuntu-keyring',
  // Debian 12 has no ubuntu-keyring package: osb ships the keyring from Debian's newer one.
  shippedKeyring: 'ubuntu-archive-keyring.gpg',
};
