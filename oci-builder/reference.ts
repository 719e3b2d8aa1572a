/**
 * Image references (NAME[:TAG]) as the distribution spec and containers/image parse them, so
 * what osb writes as `org.opencontainers.image.ref.name` is what podman and skopeo accept.
 * https://github.com/distribution/reference/blob/main/regexp.go
 */
import { UsageError } from '../lib/errors.js';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const REFERENCE = new RegExp(`^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?$`);

export interface ImageReference {
  /** Repository with its domain when given: `localhost/osb`. */
  readonly name: string;
  readonly tag: string;
  /** `name:tag`. */
  readonly full: string;
}

/** Parse NAME[:TAG] (tag `latest` when left out); a bad one is a usage error naming the rule broken. */
export function parseReference(ref: string): ImageReference {
  const m = REFERENCE.exec(ref);
  // A first component without '.', ':' or 'localhost' is a path component, not a domain, so it
  // must be lower case like the others.
  const domain = m?.[1];
  const badDomain = domain !== undefined && !/[.:]|^localhost$/.test(domain) && !new RegExp(`^${COMPONENT}$`).test(domain);
  if (!m || badDomain || ref.length > 255) {
    throw new UsageError(
      `invalid image reference '${ref}': expected NAME[:TAG] with a lower-case name (a-z, 0-9, '.', '_', '-' between parts, '/' between components) and a tag of up to 128 letters, digits, '_', '.', '-'`,
      'for example --oci-ref localhost/osb:1.0 or --oci-ref registry.example.com/team/guest:v2',
    );
  }
  const name = domain ? `${domain}/${m[2]}` : m[2]!;
  const tag = m[3] ?? 'latest';
  return { name, tag, full: `${name}:${tag}` };
}
