/**
 * Where the SCAP Security Guide's data streams are, and which one fits a distro release. Debian
 * ships them in ssg-debian (Debian), ssg-debderived (Ubuntu) and ssg-nondebian (Fedora, CentOS
 * Stream, openSUSE, ...); Fedora's scap-security-guide uses the same directory. Debian 12's
 * ssg-debian (0.1.65) has Debian 10 and 11 content only: there is no Debian 12 data stream to
 * default to on a bookworm host, and Debian 11's does not apply to a bookworm tree (its platform
 * check reads /etc/debian_version and every rule is "notapplicable").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The directory the ssg packages install their content into. */
export const SSG_CONTENT = '/usr/share/xml/scap/ssg/content';

const DEBIAN_NUMBERS: Readonly<Record<string, string>> = { buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14' };
const UBUNTU_NUMBERS: Readonly<Record<string, string>> = { xenial: '1604', bionic: '1804', focal: '2004', jammy: '2204', noble: '2404' };

/**
 * The SSG product name for a distro release (`debian12`, `ubuntu2204`, `cs9`, `fedora`), or
 * undefined when SSG has none or the release is a moving name (`stable`, `sid`, `testing`).
 */
export function ssgProduct(distro: string, release: string): string | undefined {
  const r = release.toLowerCase();
  switch (distro.toLowerCase()) {
    case 'debian': {
      const n = DEBIAN_NUMBERS[r] ?? (/^\d+$/.test(r) ? r : undefined);
      return n ? `debian${n}` : undefined;
    }
    case 'ubuntu': {
      const n = UBUNTU_NUMBERS[r] ?? (/^\d\d\.\d\d$/.test(r) ? r.replace('.', '') : undefined);
      return n ? `ubuntu${n}` : undefined;
    }
    case 'fedora':
      return 'fedora';
    case 'centos': {
      const n = /^(?:stream)?(\d+)$/.exec(r)?.[1];
      return n ? `cs${n}` : undefined;
    }
    case 'opensuse':
      return 'opensuse';
    default:
      return undefined;
  }
}

/**
 * The data stream the installed ssg packages ship for a distro release (debian 12 →
 * ssg-debian12-ds.xml, ubuntu jammy → ssg-ubuntu2204-ds.xml), or undefined when it is not
 * installed. `contentDir` is where to look (the packages' directory by default).
 */
export function defaultDatastream(distro: string, release: string, contentDir: string = SSG_CONTENT): string | undefined {
  const product = ssgProduct(distro, release);
  if (!product) return undefined;
  const ds = join(contentDir, `ssg-${product}-ds.xml`);
  return existsSync(ds) ? ds : undefined;
}
