/**
 * The grammar each setting's value must follow (the settings table's `grammar`), checked when
 * the value is resolved: a bad one is refused in one line, exit 2, before any work. The OCI
 * grammars (tags, repositories, references, KEY=VALUE) are oci-builder/reference.ts's; this
 * module only says which applies to which setting, and adds file names, PEM files and arches.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { checkRepository, checkTag, parseKeyValue, parseParentRef, parseReference, parseRegistryTarget } from '../../oci-builder/reference.js';
import { bundlePaths, kernelPaths, manifestPath, ociPaths, parentPaths, provenancePath, rootHashPath, sbomPath, squashfsPaths } from './paths.js';
import type { Grammar, Settings } from './table.js';

export type { Grammar };


/** osb's names for the architectures, from Debian's (and Go's and the OCI config's) names. */
const ARCH_ALIASES: Readonly<Record<string, string>> = { amd64: 'x86_64', arm64: 'aarch64', ppc64el: 'ppc64le' };

/** Names osb keeps in a workdir for itself (.osb/, .osb-owned, .osb-cache-*, ...). */
const INTERNAL = /^\.osb/;

/**
 * A file name in the workdir (--image-name, --initrd-name): one name, not a path, so the artefact
 * lands in the workdir and nowhere else.
 */
export function checkFileName(name: string, where: string): string {
  const why =
    name === '' ? 'is empty'
    : name.includes('/') ? "holds a '/'"
    : name === '.' || name === '..' ? 'is a directory name'
    : name.includes('\0') ? 'holds a NUL byte'
    : INTERNAL.test(name) ? "starts with '.osb', which osb keeps for its own files"
    : Buffer.byteLength(name) > 255 ? 'is longer than 255 bytes'
    : undefined;
  if (why) throw new UsageError(`${where} '${name}' ${why}: it must be a file name in the workdir, not a path`, `e.g. ${where} guest.img; use --workdir to write elsewhere`);
  return name;
}

/** --registry-ca: a readable file that holds at least one PEM certificate. */
export function checkPemFile(path: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    throw new UsageError(`${where} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give the PEM file of the CA that signed the registry\'s certificate');
  }
  if (!/^-----BEGIN CERTIFICATE-----\r?$/m.test(text)) {
    throw new UsageError(`${where} ${path} is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)`, 'give the CA certificate in PEM form (openssl x509 -inform der -in ca.der -out ca.pem converts a DER one)');
  }
  return path;
}

type Check = (value: string, where: string) => string;

/** A grammar whose parser only refuses: what it parses is not kept, the value stays as given. */
const refusesOnly =
  (parse: (value: string, where: string) => unknown): Check =>
  (value, where) => {
    parse(value, where);
    return value;
  };

/** The check of each grammar, returning the value, normalized where that applies. */
const CHECKS: Readonly<Record<Grammar, Check>> = {
  fileName: checkFileName,
  tag: checkTag,
  repository: checkRepository,
  registry: refusesOnly(parseRegistryTarget),
  reference: refusesOnly((value) => parseReference(value)),
  keyValue: refusesOnly(parseKeyValue),
  parent: refusesOnly((value) => parseParentRef(value)),
  pemFile: checkPemFile,
  arch: checkArches,
};

/**
 * --arch: one architecture, or a comma-separated list of them (x86_64,aarch64) for the targets
 * that make one multi-platform image (osb oci, osb publish). Debian's names become osb's.
 */
function checkArches(value: string, where: string): string {
  const arches = value.split(',').map((a) => ARCH_ALIASES[a.trim()] ?? a.trim());
  const bad = arches.findIndex((a, i) => a === '' || arches.indexOf(a) !== i);
  if (bad >= 0) throw new UsageError(`${where} '${value}' ${arches[bad] === '' ? 'has an empty architecture' : `names ${arches[bad]} twice`}`, 'give one architecture, or a list such as x86_64,aarch64');
  return arches.join(',');
}

/** One value (one item of a list) checked against `grammar`; returns it, normalized where that applies. */
export function checkValue(grammar: Grammar, value: string, where: string): string {
  return CHECKS[grammar](value, where);
}

/** Every name osb gives a file or directory of its own in the workdir (paths.ts), for a settings value. */
function workdirNames(s: Settings): string[] {
  const w: Settings = { ...s, workdir: '/w', rootfsDir: undefined, cacheDir: undefined };
  const kinds = ['rootfs', 'oci'] as const;
  return [
    'rootfs', 'cache', 'logs', manifestPath(w), rootHashPath(w),
    ...Object.values(kernelPaths(w)), ...Object.values(ociPaths(w)), ...Object.values(bundlePaths(w)), ...Object.values(squashfsPaths(w)),
    ...Object.values(parentPaths(w)),
    ...kinds.flatMap((k) => [sbomPath({ ...w, sbomFormat: 'spdx' }, k), sbomPath({ ...w, sbomFormat: 'cyclonedx' }, k), provenancePath(w, k)]),
  ].map((p) => basename(p));
}

const SIDECARS = ['.spdx.json', '.cdx.json', '.intoto.json'];

/**
 * --image-name and --initrd-name may not take a name osb uses for another output (the rootfs, the
 * OCI layout, the other one or its SBOM): building one would replace the other. `given` says
 * which settings this command was given (the one to blame when the two clash).
 */
export function checkOutputNames(s: Settings, where: Readonly<Record<string, string>>, given: (key: string) => boolean): void {
  const taken = new Set(workdirNames(s));
  const names = { imageName: s.imageName, initrdName: s.initrdName };
  const what = { imageName: 'image', initrdName: 'initrd' };
  const refuse = (key: keyof typeof names, clash: string): never => {
    const flag = where[key] ?? key;
    throw new UsageError(`${flag} '${names[key]}' would replace ${clash} in the workdir`, `choose another name, e.g. ${flag} guest-${names[key].replace(/^\.+/, '')}`);
  };
  for (const key of ['imageName', 'initrdName'] as const) if (taken.has(names[key])) refuse(key, `osb's own ${names[key]}`);
  for (const [a, b] of [['imageName', 'initrdName'], ['initrdName', 'imageName']] as const) {
    if ([names[b], ...SIDECARS.map((x) => names[b] + x)].includes(names[a])) {
      const blamed = given(a) || !given(b) ? a : b;
      const other = blamed === a ? b : a;
      refuse(blamed, `the ${what[other]}${names[blamed] === names[other] ? '' : `'s ${names[blamed]}`} (${where[other] ?? other} ${names[other]})`);
    }
  }
}
