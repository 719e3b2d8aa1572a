/**
 * --sign-key: the key, decrypted once a run (before anything is built, so a wrong passphrase
 * costs nothing), and the DSSE envelopes beside each artefact: its SBOM and its provenance, each
 * an in-toto statement about the artefact's sha256, signed.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeAtomic } from '../../lib/atomic.js';
import { sha256File } from '../../lib/hash.js';
import type { Reporter } from '../../lib/log.js';
import { openEnvelope, signEnvelope, statement, type Subject } from '../../signing/dsse.js';
import { askPassphrase } from '../cli/passphrase.js';
import { kernelPaths, manifestPath, provenancePath, sbomPath, squashfsPaths, ukiPaths, type Artefact } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';
import { artefactPath } from './supply-chain.js';

export interface Signer {
  readonly key: KeyObject;
  readonly pub: KeyObject;
  readonly path: string;
}

const loaded = new Map<string, Promise<Signer>>();

/**
 * The --sign-key key, asked for its passphrase (OSB_SIGN_PASSWORD, COSIGN_PASSWORD, or the
 * terminal) once a run. The first call starts scrypt on the thread pool; later calls wait for it.
 */
export function loadSigner(path: string): Promise<Signer> {
  let p = loaded.get(path);
  if (!p) {
    p = (async () => {
      const { loadPrivateKey } = await import('../../signing/keys.js');
      let pass: string | undefined = process.env.OSB_SIGN_PASSWORD ?? process.env.COSIGN_PASSWORD;
      if (pass === undefined) pass = await askPassphrase(`passphrase for ${path}: `, false);
      const key = await loadPrivateKey(path, () => pass!);
      return { key, pub: createPublicKey(key), path };
    })();
    // Whoever waits for it sees the failure; starting early must not make it unhandled.
    p.catch(() => undefined);
    loaded.set(path, p);
  }
  return p;
}

export const SPDX_PREDICATE = 'https://spdx.dev/Document';
export const CYCLONEDX_PREDICATE = 'https://cyclonedx.org/bom';

/** The envelope beside a supply-chain file: osb.img.spdx.json -> osb.img.spdx.dsse.json. */
export const envelopePath = (file: string): string => file.replace(/\.json$/, '.dsse.json');

/**
 * The statements to sign for an artefact: its SBOM (wrapped in a statement about the artefact)
 * and its provenance (a statement already, whose subjects are checked against the files now).
 */
export async function artefactStatements(s: Settings, kind: Artefact, about?: Subject): Promise<{ file: string; predicateType: string; payload: Buffer }[]> {
  const subjectFile = kind === 'rootfs' ? manifestPath(s) : artefactPath(s, kind);
  // A pushed image's statements are about its manifest digest, not the file (publish re-wraps them).
  const subject: Subject = about ?? { name: basename(subjectFile), sha256: await sha256File(subjectFile) };
  const out: { file: string; predicateType: string; payload: Buffer }[] = [];
  const sbom = sbomPath(s, kind);
  if (existsSync(sbom)) {
    const type = sbom.endsWith('.cdx.json') ? CYCLONEDX_PREDICATE : SPDX_PREDICATE;
    out.push({ file: sbom, predicateType: type, payload: statement([subject], type, JSON.parse(readFileSync(sbom, 'utf8'))) });
  }
  const prov = provenancePath(s, kind);
  if (existsSync(prov)) {
    const bytes = readFileSync(prov);
    const doc = JSON.parse(bytes.toString('utf8')) as { predicateType: string; subject: { digest: { sha256: string } }[] };
    // Signed only if it still speaks of the artefact as it is now.
    if (about || doc.subject?.some((x) => x.digest?.sha256 === subject.sha256)) out.push({ file: prov, predicateType: doc.predicateType, payload: bytes });
  }
  return out;
}

function signsAlready(envelope: string, payload: Buffer, pub: KeyObject): boolean {
  if (!existsSync(envelope)) return false;
  const text = readFileSync(envelope);
  try {
    if ((JSON.parse(text.toString('utf8')) as { payload?: unknown }).payload !== payload.toString('base64')) return false;
  } catch {
    return false;
  }
  return typeof openEnvelope(pub, text) !== 'string';
}

/** The envelopes beside an artefact file (for S3: they go with it). */
export function envelopesBeside(file: string): string[] {
  const dir = dirname(file);
  const name = basename(file);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(`${name}.`) && n.endsWith('.dsse.json')).sort().map((n) => join(dir, n)) : [];
}

/** What --sign-key signs: the artefacts with an SBOM and provenance, and the kernel and squashfs. */
export type Signable = Artefact | 'kernel' | 'squashfs' | 'uki';
export const SIGNABLE: readonly Signable[] = ['rootfs', 'image', 'initrd', 'oci', 'kernel', 'squashfs', 'uki'];

/** The UKI's reference-values statement, signed as it is when it still names the UKI as it is. */
async function ukiStatements(s: Settings): Promise<{ file: string; predicateType: string; payload: Buffer }[]> {
  const p = ukiPaths(s);
  if (!existsSync(p.statement) || !existsSync(p.uki)) return [];
  const bytes = readFileSync(p.statement);
  const doc = JSON.parse(bytes.toString('utf8')) as { predicateType: string; subject: { digest: { sha256: string } }[] };
  const digest = await sha256File(p.uki);
  return doc.subject?.some((x) => x.digest?.sha256 === digest) ? [{ file: p.statement, predicateType: doc.predicateType, payload: bytes }] : [];
}

/**
 * The kernel and the squashfs have no SBOM or provenance file beside them: their provenance is
 * made here, from the target's recorded inputs (its state), and exists only signed, in
 * FILE.intoto.dsse.json, one for each file (vmlinuz.container, vmlinux.container; osb.squashfs).
 */
async function builtFileStatements(s: Settings, kind: 'kernel' | 'squashfs'): Promise<{ file: string; predicateType: string; payload: Buffer }[]> {
  const { readState } = await import('../engine/state.js');
  const { provenanceStatement, SLSA_PROVENANCE_V1 } = await import('../../supply-chain/provenance.js');
  const { packageVersion } = await import('../../lib/package-root.js');
  const state = await readState(s.workdir, kind);
  if (!state) return [];
  const files = kind === 'kernel' ? [kernelPaths(s).vmlinuz, kernelPaths(s).vmlinux] : [squashfsPaths(s).image];
  const out: { file: string; predicateType: string; payload: Buffer }[] = [];
  const settings = Object.fromEntries(Object.entries(state.values ?? {}).map(([k, v]) => [k, v.value ?? null]));
  for (const f of files.filter((x) => existsSync(x))) {
    const st = provenanceStatement({ subjects: [{ name: basename(f), sha256: await sha256File(f) }], target: kind, settings, inputsHash: state.inputsHash, sourceDateEpoch: s.sourceDateEpoch, resolvedDependencies: [], toolVersion: packageVersion() });
    out.push({ file: `${f}.intoto.json`, predicateType: SLSA_PROVENANCE_V1, payload: Buffer.from(JSON.stringify(st)) });
  }
  return out;
}

/** Sign the SBOM and provenance of each artefact: envelopes written atomically beside them. */
export async function signArtefacts(s: Settings, kinds: readonly Signable[], log: Pick<Reporter, 'info'>): Promise<string[]> {
  const signer = await loadSigner(s.signKey!);
  const written: string[] = [];
  for (const kind of kinds) {
    if (kind === 'rootfs' || kind === 'image' || kind === 'initrd' || kind === 'oci') {
      if (!existsSync(kind === 'rootfs' ? manifestPath(s) : artefactPath(s, kind))) continue;
    }
    const statements = kind === 'kernel' || kind === 'squashfs' ? await builtFileStatements(s, kind) : kind === 'uki' ? await ukiStatements(s) : await artefactStatements(s, kind);
    for (const st of statements) {
      const out = envelopePath(st.file);
      // ECDSA signatures differ each time: an envelope that already signs this payload with this key stays.
      if (signsAlready(out, st.payload, signer.pub)) continue;
      const env = signEnvelope(signer.key, signer.pub, st.payload);
      await writeAtomic(out, async (tmp) => writeFile(tmp, JSON.stringify(env, null, 2) + '\n'));
      written.push(out);
    }
  }
  if (written.length) log.info(`signed with ${s.signKey}: ${written.map((w) => basename(w)).join(', ')}`);
  return written;
}
