/**
 * Package URLs (https://github.com/package-url/purl-spec): `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`.
 * osb writes deb, apk and rpm purls with the `arch` and `distro` qualifiers, as the spec's
 * PURL-TYPES.rst examples do (`pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie`,
 * `pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25`).
 */
import { byCodePoint } from '../lib/order.js';

export type PurlType = 'deb' | 'apk' | 'rpm' | 'generic';

export interface Purl {
  readonly type: string;
  readonly namespace?: string;
  readonly name: string;
  readonly version?: string;
  readonly qualifiers?: Readonly<Record<string, string>>;
}

/**
 * Percent-encode a purl component: everything but the unreserved characters (RFC 3986) and ':'
 * (which the spec leaves unencoded, e.g. Debian epochs `1:2.3`); '+' becomes %2B.
 */
const enc = (s: string): string => encodeURIComponent(s).replace(/%3A/gi, ':');

/** The canonical string: lower-case type, qualifier keys sorted, empty values left out. */
export function formatPurl(p: Purl): string {
  let s = `pkg:${p.type.toLowerCase()}/`;
  if (p.namespace) s += p.namespace.split('/').map(enc).join('/') + '/';
  s += enc(p.name);
  if (p.version) s += `@${enc(p.version)}`;
  const q = Object.entries(p.qualifiers ?? {}).filter(([, v]) => v !== '').sort(([a], [b]) => byCodePoint(a, b));
  if (q.length) s += '?' + q.map(([k, v]) => `${k.toLowerCase()}=${enc(v)}`).join('&');
  return s;
}

/** Parse by the spec's rules (subpath and qualifiers split off from the right, then version, name, namespace). */
export function parsePurl(s: string): Purl & { readonly subpath?: string } {
  if (!s.startsWith('pkg:')) throw new Error(`not a purl (no pkg: scheme): ${s}`);
  let rest = s.slice(4).replace(/^\/+/, '');
  let subpath: string | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) [rest, subpath] = [rest.slice(0, hash), rest.slice(hash + 1).split('/').filter((x) => x && x !== '.' && x !== '..').map(decodeURIComponent).join('/')];
  let qualifiers: Record<string, string> | undefined;
  const qm = rest.indexOf('?');
  if (qm >= 0) {
    qualifiers = {};
    for (const pair of rest.slice(qm + 1).split('&').filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`purl qualifier without key=value: ${pair}`);
      const key = pair.slice(0, eq);
      // Keys are lower case in a purl; canonicalPurl() lowers them first when asked to be lenient.
      if (!/^[a-z.\-_][a-z0-9.\-_]*$/.test(key)) throw new Error(`purl qualifier key '${key}' is not valid`);
      const v = decodeURIComponent(pair.slice(eq + 1));
      if (v) qualifiers[key] = v;
    }
    rest = rest.slice(0, qm);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new Error(`purl without a type/name: ${s}`);
  const type = rest.slice(0, slash).toLowerCase();
  if (!/^[a-z.+-][a-z0-9.+-]*$/.test(type)) throw new Error(`purl type '${type}' is not valid`);
  rest = rest.slice(slash + 1).replace(/\/+$/, '');
  let version: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) [rest, version] = [rest.slice(0, at), decodeURIComponent(rest.slice(at + 1))];
  const parts = rest.split('/').filter(Boolean);
  const name = decodeURIComponent(parts.pop() ?? '');
  if (!name) throw new Error(`purl without a name: ${s}`);
  const namespace = parts.length ? parts.map(decodeURIComponent).join('/') : undefined;
  return { type, name, ...(namespace ? { namespace } : {}), ...(version ? { version } : {}), ...(qualifiers && Object.keys(qualifiers).length ? { qualifiers } : {}), ...(subpath ? { subpath } : {}) };
}

/** Release numbers for the `distro` qualifier (debian-12, ubuntu-24.04), from codenames. */
const RELEASE_NUMBERS: Readonly<Record<string, string>> = {
  buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14',
  focal: '20.04', jammy: '22.04', noble: '24.04', oracular: '24.10', plucky: '25.04', questing: '25.10',
};

/** `debian-12`, `ubuntu-24.04`, `alpine-3.22`, `fedora-41`: the distro qualifier's value. */
export function distroQualifier(distro: string, release: string): string {
  const r = RELEASE_NUMBERS[release] ?? release.replace(/^v/, '');
  return `${distro}-${r}`;
}

/** The purl of an installed distro package. */
export function packagePurl(type: PurlType, distro: string, release: string, p: { name: string; version: string; arch: string }): string {
  return formatPurl({ type, namespace: distro, name: p.name, version: p.version, qualifiers: { arch: p.arch, distro: distroQualifier(distro, release) } });
}

/** The canonical form of a purl string, lowering the type and the qualifier keys as the spec's canonicalization does. */
export function canonicalPurl(s: string): string {
  const lowered = s.replace(/^pkg:([^/]+)/i, (_, t: string) => `pkg:${t.toLowerCase()}`).replace(/([?&])([^=&#]+)=/g, (_, sep: string, k: string) => `${sep}${k.toLowerCase()}=`);
  return formatPurl(parsePurl(lowered));
}
