/**
 * The SBOM written beside each artefact (rootfs, image, initrd, oci): the packages of the rootfs
 * manifest with their purls and what the package database says (lib/sbom-meta.ts), the agent,
 * and the guest kernel osb built in this workdir (the kernel that boots the artefact; it is not
 * inside it) when there is one.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeAtomic } from '../../lib/atomic.js';
import { packageVersion } from '../../lib/package-root.js';
import type { BuildContext } from '../../lib/context.js';
import { sha256, sha256File } from '../../lib/hash.js';
import { provenanceStatement, type ResourceDescriptor } from '../../supply-chain/provenance.js';
import { formatPurl, packagePurl, type PurlType } from '../../supply-chain/purl.js';
import { renderSbom, type SbomComponent, type SbomFormat } from '../../supply-chain/sbom.js';
import { packageMeta } from '../../supply-chain/sbom-meta.js';
import { imagePath, initrdPath, kernelPaths, manifestPath, ociPaths, rootfsDir, provenancePath, sbomPath, type Artefact } from '../settings/paths.js';
import type { InputKey, Settings } from '../settings/table.js';

type SbomArtefact = Artefact;

/**
 * The SBOM and the provenance beside an artefact are outputs, not inputs: another --sbom-format
 * leaves the inputs alone, but the missing file makes the target rebuild.
 */
export const supplyChainOutputs = (s: Settings, kind: Artefact): string[] => [sbomPath(s, kind), provenancePath(s, kind)];

/** The file an artefact's SBOM describes (the rootfs: its directory). */
export function artefactPath(s: Settings, kind: SbomArtefact): string {
  return kind === 'rootfs' ? rootfsDir(s) : kind === 'image' ? imagePath(s) : kind === 'initrd' ? initrdPath(s) : ociPaths(s).archive;
}

export const sbomFormatOf = (s: Settings): SbomFormat => (s.sbomFormat === 'cyclonedx' ? 'cyclonedx' : 'spdx');

/** Which purl type a distro's packages have (distros/<name>.ts `engine`). */
export async function purlTypeOf(distro: string): Promise<PurlType> {
  const { getDistro } = await import('../../distros/index.js');
  const engine = getDistro(distro).engine;
  return engine === 'apt' ? 'deb' : engine === 'apk' ? 'apk' : engine === 'dnf' || engine === 'zypper' ? 'rpm' : 'generic';
}

const SUPPLIERS: Readonly<Record<string, string>> = {
  debian: 'Debian', ubuntu: 'Canonical Ltd.', alpine: 'Alpine Linux', fedora: 'Fedora Project', centos: 'CentOS Project', rocky: 'Rocky Enterprise Software Foundation',
  openeuler: 'openEuler', azurelinux: 'Microsoft', opensuse: 'openSUSE Project', clearlinux: 'Clear Linux Project',
};

interface Manifest {
  distro: string;
  release: string;
  arch: string;
  packages: { name: string; version: string; arch: string }[];
  agent: { name: string; source: string; sha256: string; builtin: boolean } | null;
  repos?: { url: string; alias?: string; keyUrl?: string; keySha256?: string; keyFingerprints?: string[] }[];
  inputsHash: string;
}

/** The rootfs manifest, or undefined for a rootfs osb did not build (--rootfs-dir with --no-deps). */
export function readManifest(s: Settings): Manifest | undefined {
  const p = manifestPath(s);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Manifest) : undefined;
}

/** The kernel osb built in this workdir: version from the file its stable name links to. */
export async function workdirKernel(s: Settings): Promise<{ version: string; path: string; sha256: string } | undefined> {
  const k = kernelPaths(s).vmlinuz;
  if (!existsSync(k)) return undefined;
  const real = realpathSync(k);
  const version = /vmlinuz-(.+)$/.exec(basename(real))?.[1] ?? 'unknown';
  return { version, path: real, sha256: await sha256File(real) };
}

/** The SBOM's components: packages (as many as the manifest lists), the agent, the kernel. */
export async function sbomComponents(s: Settings, withKernel: boolean): Promise<SbomComponent[]> {
  const m = readManifest(s);
  const kernel = withKernel ? await workdirKernel(s) : undefined;
  const kernelComponent: SbomComponent[] = kernel
    ? [{ kind: 'kernel', name: 'linux', version: kernel.version, supplier: 'osb (built from kernel.org sources)', purl: formatPurl({ type: 'generic', name: 'linux', version: kernel.version, qualifiers: { checksum: `sha256:${kernel.sha256}` } }), sha256: kernel.sha256 }]
    : [];
  if (!m) return kernelComponent;
  const type = await purlTypeOf(m.distro);
  const supplier = SUPPLIERS[m.distro] ?? m.distro;
  const meta = packageMeta(rootfsDir(s), type, m.packages.map((p) => p.name));
  const components: SbomComponent[] = m.packages.map((p) => ({ kind: 'package', name: p.name, version: p.version, supplier, purl: packagePurl(type, m.distro, m.release, p), ...meta.get(p.name) }));
  const a = m.agent;
  if (a) {
    components.push({
      kind: 'agent',
      name: a.name,
      version: a.sha256 ? `sha256:${a.sha256.slice(0, 12)}` : 'unknown',
      supplier: a.builtin ? 'osb' : 'NOASSERTION',
      purl: formatPurl({ type: 'generic', name: a.name, version: a.sha256 ? `sha256:${a.sha256}` : undefined, qualifiers: { checksum: a.sha256 ? `sha256:${a.sha256}` : '' } }),
      ...(a.sha256 ? { sha256: a.sha256 } : {}),
    });
  }
  return [...components, ...kernelComponent];
}


/**
 * The in-toto/SLSA provenance of an artefact: its files as subjects (the rootfs, a directory,
 * by its manifest), the target's settings, the inputs hash, and what was resolved: each package
 * of the manifest (purl), the package set as a whole, the agent, the kernel source.
 */
export async function writeProvenance(ctx: BuildContext, s: Settings, kind: SbomArtefact, inputsHash: string, settingKeys: readonly InputKey[], extraSubjects: readonly string[] = []): Promise<string> {
  const out = provenancePath(s, kind);
  if (ctx.dryRun) {
    ctx.log.info(`would write the in-toto provenance ${out}`);
    return out;
  }
  const files = [kind === 'rootfs' ? manifestPath(s) : artefactPath(s, kind), ...extraSubjects].filter((f) => existsSync(f));
  const subjects = [];
  for (const f of files) subjects.push({ name: basename(f), sha256: await sha256File(f) });
  const m = readManifest(s);
  const deps: ResourceDescriptor[] = [];
  if (m) {
    const type = await purlTypeOf(m.distro);
    const set = m.packages.map((p) => packagePurl(type, m.distro, m.release, p));
    deps.push({ name: 'package set', digest: { sha256: sha256(set.join('\n') + '\n') }, annotations: { distro: m.distro, release: m.release, mirror: (m as { mirror?: string }).mirror ?? '', packages: set.length } });
    for (const purl of set) deps.push({ uri: purl });
    if (m.agent) deps.push({ name: `agent ${m.agent.name}`, uri: m.agent.builtin ? 'osb:builtin-agent' : `file:${m.agent.source}`, ...(m.agent.sha256 ? { digest: { sha256: m.agent.sha256 } } : {}) });
    for (const r of m.repos ?? []) if (r.keyUrl) deps.push({ name: `signing key of ${r.alias ?? r.url}`, uri: r.keyUrl, digest: { sha256: r.keySha256 ?? '' }, annotations: { fingerprints: (r.keyFingerprints ?? []).join(' ') } });
  }
  const kernelState = join(s.workdir, '.osb', 'state', 'kernel.json');
  if (existsSync(kernelState)) {
    const inputs = (JSON.parse(readFileSync(kernelState, 'utf8')) as { inputs?: Record<string, string> }).inputs ?? {};
    const k = await workdirKernel(s);
    deps.push({ name: 'kernel source', ...(inputs['kernel source'] ? { annotations: { identity: inputs['kernel source'] } } : {}), ...(k ? { uri: `file:${basename(k.path)}`, digest: { sha256: k.sha256 } } : {}) });
  }
  const settings = Object.fromEntries(settingKeys.map((k) => [k, s[k] ?? null]));
  const statement = provenanceStatement({ subjects, target: kind, settings, inputsHash, sourceDateEpoch: s.sourceDateEpoch, resolvedDependencies: deps, toolVersion: packageVersion() });
  await writeAtomic(out, async (tmp) => writeFile(tmp, JSON.stringify(statement, null, 2) + '\n'));
  ctx.log.info(`wrote ${out}`);
  return out;
}

/** Write the artefact's SBOM (atomically; in dry-run only say so). */
export async function writeSbom(ctx: BuildContext, s: Settings, kind: SbomArtefact, inputsHash: string, early?: Promise<SbomComponent[]>): Promise<string> {
  const out = sbomPath(s, kind);
  if (ctx.dryRun) {
    ctx.log.info(`would write the ${sbomFormatOf(s) === 'cyclonedx' ? 'CycloneDX 1.6' : 'SPDX 2.3'} SBOM ${out}`);
    return out;
  }
  if (!readManifest(s)) ctx.log.info(`no rootfs manifest at ${manifestPath(s)} (a rootfs osb did not build): the SBOM lists no packages`);
  const components = await (early ?? sbomComponents(s, kind === 'image' || kind === 'initrd'));
  const file = artefactPath(s, kind);
  const sha256 = kind === 'rootfs' ? undefined : await sha256File(file);
  const version = packageVersion();
  const text = renderSbom(sbomFormatOf(s), { artefact: { kind, name: basename(file), ...(sha256 ? { sha256 } : {}) }, components, sourceDateEpoch: s.sourceDateEpoch, inputsHash, toolVersion: version });
  await writeAtomic(out, async (tmp) => writeFile(tmp, text));
  ctx.log.info(`wrote ${out} (${components.length} components)`);
  return out;
}

/**
 * The SBOM's components read beside the artefact's build (they come from the rootfs, not the
 * artefact): pass the result to writeSupplyChain. Not in dry-run.
 */
export function earlySbomComponents(s: Settings, kind: SbomArtefact): Promise<SbomComponent[]> {
  const p = sbomComponents(s, kind === 'image' || kind === 'initrd');
  p.catch(() => undefined); // awaited by writeSbom, which reports a failure
  return p;
}

/** Both files beside an artefact: its SBOM and its provenance. `early`: earlySbomComponents' result. */
export async function writeSupplyChain(ctx: BuildContext, s: Settings, kind: SbomArtefact, inputsHash: string, settingKeys: readonly InputKey[], extraSubjects: readonly string[] = [], early?: Promise<SbomComponent[]>): Promise<void> {
  await writeSbom(ctx, s, kind, inputsHash, early);
  await writeProvenance(ctx, s, kind, inputsHash, settingKeys, extraSubjects);
}
