/**
 * The grammars of what osb names in a registry, in one place: image references (NAME[:TAG]) as
 * the distribution spec and containers/image parse them, tags, repositories, registry targets
 * (HOST[:PORT]/REPO), KEY=VALUE labels and annotations, and --parent references. So what osb writes as
 * `org.opencontainers.image.ref.name` is what podman and skopeo accept, and a bad value is refused
 * before any work, in one line.
 * https://github.com/distribution/reference/blob/main/regexp.go
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pulling-manifests
 */
import { resolve } from 'node:path';
import { UsageError } from '../lib/errors.js';

/** One path component of a repository: lower case, separated by '.', '_', '__' or dashes. */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = `${COMPONENT}(?:/${COMPONENT})*`;
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
/** The distribution spec's tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
const TAG = '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}';
const REFERENCE = new RegExp(`^(?:(${DOMAIN})/)?(${REPOSITORY})(?::(${TAG}))?$`);
/** A registry host as osb talks to it: a lower-case name or address, or [IPv6], and a port. */
const HOST = '(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\\[[0-9a-f:]+\\])(?::[0-9]{1,5})?';

export const TAG_PATTERN = new RegExp(`^${TAG}$`);
export const REPOSITORY_PATTERN = new RegExp(`^${REPOSITORY}$`);
/** A label or annotation key: reverse-DNS-ish, no whitespace (org.opencontainers.image.title). */
export const KEY_PATTERN = /^[A-Za-z0-9._/-]+$/;

const TAG_RULE = 'a tag is 1 to 128 letters, digits, _ . and -, not starting with . or -';
const REPO_RULE = "a repository is lower-case components (a-z, 0-9, separated by '.', '_', '__' or '-') joined by '/'";

/** A value as it goes into a one-line message: quoted, control characters escaped. */
const shown = (v: string): string => `'${v.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;

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
      `invalid image reference ${shown(ref)}: expected NAME[:TAG] with a lower-case name (a-z, 0-9, '.', '_', '-' between parts, '/' between components) and a tag of up to 128 letters, digits, '_', '.', '-'`,
      'for example --oci-ref localhost/osb:1.0 or --oci-ref registry.example.com/team/guest:v2',
    );
  }
  const name = domain ? `${domain}/${m[2]}` : m[2]!;
  const tag = m[3] ?? 'latest';
  return { name, tag, full: `${name}:${tag}` };
}

/** A tag (--tag, the tag of a reference): the distribution spec's grammar, or a usage error. */
export function checkTag(tag: string, where = '--tag'): string {
  if (!TAG_PATTERN.test(tag)) throw new UsageError(`${where}: invalid tag ${shown(tag)}`, `${TAG_RULE}; give --tag once per tag`);
  return tag;
}

/** A repository path (--registry-mount-from, the REPO of HOST/REPO): the reference grammar. */
export function checkRepository(repo: string, where: string): string {
  if (!REPOSITORY_PATTERN.test(repo) || repo.length > 255) throw new UsageError(`${where}: invalid repository ${shown(repo)}`, `${REPO_RULE}, e.g. guests/base`);
  return repo;
}

export interface RegistryTarget {
  /** host[:port] */
  readonly host: string;
  readonly repo: string;
}

/** `HOST[:PORT]/REPO` (--publish-registry, --cache-from, --cache-to; a tag is not part of it). */
export function parseRegistryTarget(value: string, where = '--publish-registry'): RegistryTarget {
  const m = new RegExp(`^(${HOST})/(.+)$`).exec(value);
  const port = m ? /:(\d+)$/.exec(m[1]!)?.[1] : undefined;
  if (!m || !REPOSITORY_PATTERN.test(m[2]!) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    const example = where === '--publish-registry' ? '--publish-registry registry.example.org:5000/guests/osb --tag 1.0' : `${where} registry.example.org:5000/osb-cache`;
    const why = m && !REPOSITORY_PATTERN.test(m[2]!) ? ` (${REPO_RULE}; no tag)` : '';
    throw new UsageError(`${where} must be HOST[:PORT]/REPO; got ${shown(value)}${why}`, `e.g. ${example}`);
  }
  return { host: m[1]!, repo: m[2]! };
}

/** [SCHEME]HOST[:PORT]/REPO[:TAG|@sha256:DIGEST], a remote image (--parent docker://...); tag `latest` when left out. */
export function parseRemoteReference(value: string, where: string, scheme = ''): RegistryTarget & { readonly tag: string } {
  const m = value.startsWith(scheme) ? new RegExp(`^(${HOST})/(.+?)(?::(${TAG})|@(sha256:[0-9a-f]{64}))?$`).exec(value.slice(scheme.length)) : null;
  if (!m || !REPOSITORY_PATTERN.test(m[2]!)) {
    const why = !m ? '' : /[:@]/.test(m[2]!) ? ` (${TAG_RULE}; a digest is sha256: and 64 hex digits)` : ` (${REPO_RULE})`;
    throw new UsageError(`${where} ${shown(value)} is not ${scheme}HOST[:PORT]/REPO[:TAG|@DIGEST]${why}`, `e.g. ${where} ${scheme}registry.example.org/guests/base:1`);
  }
  return { host: m[1]!, repo: m[2]!, tag: m[4] ?? m[3] ?? 'latest' };
}

/** One KEY=VALUE of --label or --annotation: a key of letters, digits and . _ / - , any value. */
export function parseKeyValue(item: string, where: string): [string, string] {
  const i = item.indexOf('=');
  const hint = `for example ${where} org.opencontainers.image.vendor=Example`;
  if (i <= 0) throw new UsageError(`${where} expects KEY=VALUE; got ${shown(item)}`, hint);
  const key = item.slice(0, i);
  if (!KEY_PATTERN.test(key)) throw new UsageError(`${where} ${shown(item)}: the key ${shown(key)} may hold only letters, digits and . _ / - (no spaces)`, hint);
  return [key, item.slice(i + 1)];
}

/** Every --label or --annotation item as a record; the first bad one is a usage error. */
export function parseKeyValues(items: readonly string[], where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const [k, v] = parseKeyValue(item, where);
    out[k] = v;
  }
  return out;
}

export type ParentRef =
  | { kind: 'docker'; ref: string; host: string; repo: string; tag: string }
  | { kind: 'oci'; ref: string; dir: string; tag?: string }
  | { kind: 'oci-archive'; ref: string; file: string }
  | { kind: 'containers-storage'; ref: string; image: string };

/** --parent REF: an image in a registry, an OCI layout on disk, or an oci-archive file. */
export function parseParentRef(value: string): ParentRef {
  if (value.startsWith('docker://')) {
    // The registry's grammar (oci-builder/reference.ts): a bad repository or tag is refused here.
    const r = parseRemoteReference(value, '--parent', 'docker://');
    return { kind: 'docker', ref: value, host: r.host, repo: r.repo, tag: r.tag };
  }
  if (value.startsWith('oci:')) {
    const rest = value.slice(4);
    const m = /^(.*):([\w][\w.-]{0,127})$/.exec(rest);
    return m && !m[2]!.includes('/') ? { kind: 'oci', ref: value, dir: resolve(m[1]!), tag: m[2] } : { kind: 'oci', ref: value, dir: resolve(rest) };
  }
  if (value.startsWith('oci-archive:')) return { kind: 'oci-archive', ref: value, file: resolve(value.slice('oci-archive:'.length)) };
  if (value.startsWith('containers-storage:')) {
    // The local store podman and buildah share (what publish_local leaves there): NAME[:TAG].
    const image = value.slice('containers-storage:'.length);
    if (!/^[a-z0-9][a-z0-9._/-]*(:[\w][\w.-]{0,127})?$/.test(image)) throw new UsageError(`--parent '${value}': '${image}' is not an image name NAME[:TAG]`, 'e.g. --parent containers-storage:alma-base:v0.0.1');
    return { kind: 'containers-storage', ref: value, image };
  }
  throw new UsageError(`--parent '${value}': expected docker://HOST/REPO:TAG, oci:DIR[:TAG], oci-archive:FILE or containers-storage:NAME[:TAG]`, 'e.g. --parent docker://registry.example.org/guests/base:1');
}
