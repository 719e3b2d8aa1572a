/**
 * SBOMs for osb's artefacts: SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/) and
 * CycloneDX 1.6 JSON (https://cyclonedx.org/docs/1.6/json/), both from one neutral list of
 * components. Pure: the caller gathers the packages (rootfs manifest), their metadata
 * (sbom-meta.ts), the agent and the kernel. Every date is SOURCE_DATE_EPOCH and every
 * identifier derives from the input hash, so the same inputs give the same bytes.
 */
import { createHash } from 'node:crypto';

export type SbomFormat = 'spdx' | 'cyclonedx';
export const SBOM_FORMATS: readonly SbomFormat[] = ['spdx', 'cyclonedx'];

export interface SbomComponent {
  readonly kind: 'package' | 'agent' | 'kernel';
  readonly name: string;
  readonly version: string;
  /** Who ships it: the distribution for its packages, osb for its agent and kernel builds. */
  readonly supplier: string;
  readonly purl: string;
  readonly sha256?: string;
  /** The package database's own checksum (apk: SHA-1 of the package's control data). */
  readonly sha1?: string;
  /** An SPDX license expression the package database states (apk's L: field). */
  readonly licenseExpression?: string;
  /** Free-form license names found (Debian's DEP-5 copyright files), not SPDX identifiers. */
  readonly licenseNames?: readonly string[];
  /** Where the license information came from, said in the SBOM. */
  readonly licenseSource?: string;
}

export interface SbomDocument {
  /** The artefact: rootfs, image, initrd or oci, and its file name. */
  readonly artefact: { readonly kind: string; readonly name: string; readonly sha256?: string };
  readonly components: readonly SbomComponent[];
  readonly sourceDateEpoch: number;
  readonly inputsHash: string;
  readonly toolVersion: string;
}

/** ISO 8601 without fractions, as SPDX's `created` requires (YYYY-MM-DDThh:mm:ssZ). */
export const isoSeconds = (epoch: number): string => new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const derivedId = (seed: string, what: string): string => createHash('sha256').update(`osb-sbom:${what}:${seed}`).digest('hex');

/** SPDXRef-... ids allow letters, digits, '.' and '-' only. */
const spdxRef = (prefix: string, name: string, i: number): string => `SPDXRef-${prefix}-${i}-${name.replace(/[^A-Za-z0-9.-]/g, '-')}`;

export function renderSpdx(d: SbomDocument): string {
  const root = spdxRef('Artefact', d.artefact.name, 0);
  const packages = d.components.map((c, i) => {
    const checksums = [...(c.sha256 ? [{ algorithm: 'SHA256', checksumValue: c.sha256 }] : []), ...(c.sha1 ? [{ algorithm: 'SHA1', checksumValue: c.sha1 }] : [])];
    const comment = c.licenseNames?.length ? `License fields in ${c.licenseSource}: ${c.licenseNames.join(', ')} (Debian copyright-format names, not SPDX identifiers)` : undefined;
    return {
      SPDXID: spdxRef(c.kind === 'package' ? 'Package' : c.kind === 'agent' ? 'Agent' : 'Kernel', c.name, i + 1),
      name: c.name,
      versionInfo: c.version,
      supplier: `Organization: ${c.supplier}`,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      ...(checksums.length ? { checksums } : {}),
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: c.licenseExpression ?? 'NOASSERTION',
      ...(comment ? { licenseComments: comment } : {}),
      copyrightText: 'NOASSERTION',
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: c.purl }],
      primaryPackagePurpose: c.kind === 'kernel' ? 'OPERATING_SYSTEM' : c.kind === 'agent' ? 'APPLICATION' : 'LIBRARY',
    };
  });
  const doc = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `osb ${d.artefact.kind} ${d.artefact.name}`,
    documentNamespace: `https://osb.invalid/spdx/${d.artefact.kind}/${derivedId(d.inputsHash, `spdx-${d.artefact.kind}`)}`,
    creationInfo: { created: isoSeconds(d.sourceDateEpoch), creators: [`Tool: osb-${d.toolVersion}`], comment: `osb input hash ${d.inputsHash}` },
    packages: [
      {
        SPDXID: root,
        name: d.artefact.name,
        versionInfo: d.inputsHash.slice(0, 12) || 'unversioned',
        supplier: 'NOASSERTION',
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        ...(d.artefact.sha256 ? { checksums: [{ algorithm: 'SHA256', checksumValue: d.artefact.sha256 }] } : {}),
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
        primaryPackagePurpose: d.artefact.kind === 'oci' ? 'CONTAINER' : d.artefact.kind === 'rootfs' ? 'OPERATING_SYSTEM' : 'FILE',
      },
      ...packages,
    ],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: root },
      ...packages.map((p) => ({ spdxElementId: root, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
    ],
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** A UUID for serialNumber, from the input hash (RFC 9562 version 8 bits set). */
function derivedUuid(seed: string): string {
  const b = Buffer.from(derivedId(seed, 'cyclonedx-serial').slice(0, 32), 'hex');
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function renderCycloneDx(d: SbomDocument): string {
  const seen = new Set<string>();
  const components = d.components.map((c) => {
    // bom-ref must be unique: the purl, made unique if a database lists a package twice.
    let ref = c.purl;
    for (let i = 2; seen.has(ref); i++) ref = `${c.purl}#${i}`;
    seen.add(ref);
    const hashes = [...(c.sha256 ? [{ alg: 'SHA-256', content: c.sha256 }] : []), ...(c.sha1 ? [{ alg: 'SHA-1', content: c.sha1 }] : [])];
    const licenses = c.licenseExpression ? [{ license: { name: c.licenseExpression } }] : (c.licenseNames ?? []).map((name) => ({ license: { name } }));
    return {
      type: c.kind === 'kernel' ? 'operating-system' : c.kind === 'agent' ? 'application' : 'library',
      'bom-ref': ref,
      supplier: { name: c.supplier },
      name: c.name,
      version: c.version,
      ...(hashes.length ? { hashes } : {}),
      ...(licenses.length ? { licenses } : {}),
      purl: c.purl,
      ...(c.licenseSource && licenses.length ? { properties: [{ name: 'osb:license-source', value: c.licenseSource }] } : {}),
    };
  });
  const doc = {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${derivedUuid(`${d.inputsHash}:${d.artefact.kind}`)}`,
    version: 1,
    metadata: {
      timestamp: isoSeconds(d.sourceDateEpoch),
      tools: { components: [{ type: 'application', name: 'osb', version: d.toolVersion }] },
      component: {
        type: d.artefact.kind === 'oci' ? 'container' : d.artefact.kind === 'rootfs' ? 'operating-system' : 'file',
        'bom-ref': `osb-${d.artefact.kind}`,
        name: d.artefact.name,
        ...(d.artefact.sha256 ? { hashes: [{ alg: 'SHA-256', content: d.artefact.sha256 }] } : {}),
      },
      properties: [{ name: 'osb:inputs-hash', value: d.inputsHash }],
    },
    components,
    dependencies: [{ ref: `osb-${d.artefact.kind}`, dependsOn: components.map((c) => c['bom-ref']) }],
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

export const renderSbom = (format: SbomFormat, d: SbomDocument): string => (format === 'cyclonedx' ? renderCycloneDx(d) : renderSpdx(d));
/** The SBOM's file name beside its artefact. */
export const sbomSuffix = (format: SbomFormat): string => (format === 'cyclonedx' ? '.cdx.json' : '.spdx.json');
