/**
 * Build provenance: an in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md)
 * with the SLSA provenance v1 predicate (https://slsa.dev/spec/v1.0/provenance). Pure. No build
 * timestamps (runDetails.metadata.startedOn/finishedOn are optional): the same inputs give the
 * same bytes, and the date osb writes into artefacts is SOURCE_DATE_EPOCH, recorded as a parameter.
 */
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** What an osb build is; a URI naming osb's build type (osb publishes no page for it). */
export const OSB_BUILD_TYPE = 'https://osb.invalid/build-types/osb-target/v1';

/** in-toto ResourceDescriptor. */
export interface ResourceDescriptor {
  readonly name?: string;
  readonly uri?: string;
  readonly digest?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, unknown>>;
}

export interface ProvenanceInput {
  /** The artefact files, with their sha256. */
  readonly subjects: readonly { readonly name: string; readonly sha256: string }[];
  /** osb's target and the settings that are its inputs. */
  readonly target: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly inputsHash: string;
  readonly sourceDateEpoch: number;
  readonly resolvedDependencies: readonly ResourceDescriptor[];
  readonly toolVersion: string;
}

export function provenanceStatement(p: ProvenanceInput): object {
  return {
    _type: STATEMENT_TYPE,
    subject: p.subjects.map((s) => ({ name: s.name, digest: { sha256: s.sha256 } })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: OSB_BUILD_TYPE,
        externalParameters: { target: p.target, settings: p.settings },
        internalParameters: { inputsHash: p.inputsHash, sourceDateEpoch: p.sourceDateEpoch },
        resolvedDependencies: p.resolvedDependencies,
      },
      runDetails: {
        builder: { id: `https://osb.invalid/builder/osb@${p.toolVersion}`, version: { osb: p.toolVersion } },
        metadata: { invocationId: `osb-${p.target}-${p.inputsHash}` },
      },
    },
  };
}
