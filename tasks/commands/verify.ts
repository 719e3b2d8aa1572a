/**
 * `osb verify ARTEFACT --key PUB`: a file's DSSE envelopes (beside it, from --sign-key), or
 * an image's signatures and attestations in its registry (as cosign stores them). Every check a
 * consumer would make: the signature by that key, the signed digest is the artefact's, the
 * attestations' subjects. The first that fails is the one line of exit 1.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { OsbError, UsageError } from '../../lib/errors.js';
import { sha256File } from '../../lib/hash.js';
import { silentReporter } from '../../lib/log.js';
import type { KeyObject } from 'node:crypto';
import type { CommandRun } from '../cli/command.js';
import type { Settings } from '../settings/table.js';

async function verifyFile(file: string, key: KeyObject, keyName: string): Promise<string> {
  const { openEnvelope } = await import('../../signing/dsse.js');
  if (statSync(file).isDirectory()) throw new UsageError(`${file} is a directory`, 'verify a file: an image, initrd, OCI archive, or the rootfs manifest');
  const name = basename(file);
  const { envelopesBeside } = await import('../targets/sign.js');
  const envelopes = envelopesBeside(file).map((p) => basename(p));
  if (!envelopes.length) throw new OsbError(`${file}: no DSSE envelope beside it (${name}.*.dsse.json)`, 'build it with --sign-key KEY');
  const digest = await sha256File(file);
  const kinds: string[] = [];
  for (const e of envelopes) {
    const opened = openEnvelope(key, readFileSync(join(dirname(file), e)));
    if (typeof opened === 'string') throw new OsbError(`${e} ${opened}`, `check that ${keyName} is the public key of the key that signed it`);
    if (!opened.subjects.some((x) => x.sha256 === digest)) {
      throw new OsbError(`${name} has sha256 ${digest}, not the digest ${e} signs (${opened.subjects.map((x) => x.sha256).join(', ') || 'none'})`, 'the artefact changed after it was signed: build and sign it again');
    }
    kinds.push(opened.predicateType);
  }
  return `verified ${file} (sha256:${digest}) with ${keyName}: ${kinds.join(', ')}`;
}

async function verifyRef(value: string, s: Settings, key: KeyObject, keyName: string, signal: AbortSignal): Promise<string> {
  const { parseRemoteReference } = await import('../../oci-builder/reference.js');
  const { registryOptions } = await import('../engine/registry-options.js');
  const { RegistryClient, INDEX, MANIFEST_LIST } = await import('../../publish/registry.js');
  const { parseJsonObject, DIGEST } = await import('../../lib/foreign.js');
  const { pullAttachments } = await import('../../publish/signatures.js');
  const { parsePayload, verifyBytes, SIMPLESIGNING_TYPE, SIGNATURE_ANNOTATION } = await import('../../signing/cosign.js');
  const { openEnvelope, DSSE_MEDIA_TYPE } = await import('../../signing/dsse.js');
  const ref = parseRemoteReference(value.replace(/^docker:\/\//, ''), 'osb verify');
  const name = `${ref.host}/${ref.repo}`;
  const client = new RegistryClient({ ...(await registryOptions({ log: silentReporter, signal }, s, ref)), access: 'pull' });
  // As podman's default identity rule (matchRepoDigestOrExact): a tag must be the one signed,
  // a digest reference any signature in the same repository.
  const byDigest = ref.tag.startsWith('sha256:');
  const wanted = byDigest ? name : `${name}:${ref.tag}`;
  // One image's signature under this reference's identity, and its attestations: what it was signed as, and their kinds.
  const verifyOne = async (digest: string, who: string): Promise<{ signedAs: string[]; kinds: string[] }> => {
    const of = who === 'the image' ? '' : `of ${who} `;
    const sigs = (await pullAttachments(client, digest, 'sig')).filter((a) => a.mediaType === SIMPLESIGNING_TYPE);
    if (!sigs.length) throw new OsbError(`${value}: ${who} ${digest} has no signature (nothing under :${digest.replace(':', '-')}.sig)`, 'sign it with osb publish --sign-key KEY');
    const good = sigs.filter((a) => verifyBytes(key, a.bytes, a.annotations[SIGNATURE_ANNOTATION] ?? ''));
    if (!good.length) throw new OsbError(`${value}: none of ${who}'s ${sigs.length} signature${sigs.length === 1 ? '' : 's'} verifies with ${keyName}`, 'another key signed it, or the signature was changed');
    const claims = good.map((a) => parsePayload(a.bytes));
    const bad = claims.find((c): c is string => typeof c === 'string');
    const ok = claims.filter((c): c is Exclude<typeof c, string> => typeof c !== 'string');
    if (!ok.length) throw new OsbError(`${value}: ${who}'s signature by ${keyName} is not a simple-signing payload (${bad})`);
    const forImage = ok.filter((c) => c.manifestDigest === digest);
    if (!forImage.length) throw new OsbError(`${value}: ${who} is ${digest}, but the signature by ${keyName} signs ${ok[0]!.manifestDigest}`, 'the tag was moved to another image after signing');
    const mine = forImage.filter((c) => c.dockerReference === wanted || (byDigest && (c.dockerReference.startsWith(`${name}:`) || c.dockerReference.startsWith(`${name}@`))));
    if (!mine.length) throw new OsbError(`${value}: the signature ${of}by ${keyName} names ${forImage.map((c) => c.dockerReference).join(', ')}, not ${wanted}`, byDigest ? 'the image was copied from another repository; sign it where it is' : 'sign this tag too (osb publish --sign-key KEY --tag TAG), or verify by digest');
    const kinds: string[] = [];
    for (const a of await pullAttachments(client, digest, 'att')) {
      if (a.mediaType !== DSSE_MEDIA_TYPE) continue;
      const opened = openEnvelope(key, a.bytes);
      const kind = a.annotations.predicateType ?? 'attestation';
      if (typeof opened === 'string') throw new OsbError(`${value}: the ${kind} attestation ${of}${opened}`);
      if (!opened.subjects.some((x) => `sha256:${x.sha256}` === digest)) throw new OsbError(`${value}: the ${kind} attestation ${of}is about ${opened.subjects.map((x) => `sha256:${x.sha256}`).join(', ') || 'nothing'}, not ${digest}`, 'it was attached to another image');
      kinds.push(opened.predicateType);
    }
    return { signedAs: [...new Set(mine.map((c) => c.dockerReference))], kinds };
  };
  const attested = (kinds: string[]) => (kinds.length ? `attestations: ${kinds.join(', ')}` : 'no attestations');
  try {
    const top = await client.pullManifest(ref.tag, { index: true });
    const one = await verifyOne(top.digest, top.mediaType === INDEX || top.mediaType === MANIFEST_LIST ? 'the index' : 'the image');
    const head = `verified ${name}@${top.digest} with ${keyName}: signed as ${one.signedAs.join(', ')}`;
    if (top.mediaType !== INDEX && top.mediaType !== MANIFEST_LIST) return `${head}; ${attested(one.kinds)}`;
    // A multi-platform image: the index, and every image it names, each signed (what podman checks is the image it pulls).
    const doc = parseJsonObject<{ manifests?: { digest?: unknown; platform?: { os?: unknown; architecture?: unknown; variant?: unknown } }[] }>(top.bytes, `the index ${top.digest} of ${value}`);
    const images = (Array.isArray(doc.manifests) ? doc.manifests : []).slice(0, 64);
    const lines: string[] = [];
    for (const m of images) {
      if (typeof m?.digest !== 'string' || !DIGEST.test(m.digest)) throw new OsbError(`${value}: the index ${top.digest} names ${JSON.stringify(m?.digest ?? null).slice(0, 80)}, not a sha256 digest`);
      const p = m.platform ?? {};
      const platform = [p.os, p.architecture, p.variant].filter((x) => typeof x === 'string').join('/') || 'no platform';
      const r = await verifyOne(m.digest, `the ${platform} image`);
      lines.push(`${platform} ${m.digest} (${attested(r.kinds)})`);
    }
    return `${head}; ${lines.length} images: ${lines.join('; ')}`;
  } finally {
    client.close();
  }
}

export const run: CommandRun = async (cmd, { signal }) => {
  const keyFlag = cmd.flags.key;
  if (typeof keyFlag !== 'string' || !keyFlag) throw new UsageError('osb verify needs the public key', 'give --key cosign.pub');
  const { loadPublicKey } = await import('../../signing/keys.js');
  const key = loadPublicKey(resolve(keyFlag));
  const what = cmd.positional[0]!;
  // A registry host has a dot or a port, or is localhost (as docker reads the first component).
  const first = what.replace(/^docker:\/\//, '').split('/')[0]!;
  const isRef = !existsSync(what) && what.includes('/') && (/[.:]/.test(first) || first === 'localhost') && !/^\.\.?$/.test(first);
  if (!existsSync(what) && !isRef) throw new UsageError(`${what}: no such file, and not a registry reference HOST[:PORT]/REPO[:TAG]`, 'give the artefact (an image, initrd, OCI archive) or the image reference');
  const line = isRef ? await verifyRef(what, cmd.settings, key, keyFlag, signal) : await verifyFile(resolve(what), key, keyFlag);
  process.stdout.write(`${line}\n`);
  return 0;
};
