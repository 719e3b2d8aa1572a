/**
 * DSSE envelopes (https://github.com/secure-systems-lab/dsse/blob/v1.0.0/envelope.md) over
 * in-toto statements, as cosign attests: the signature is ECDSA-SHA256 over the pre-authentication
 * encoding "DSSEv1 LEN(type) type LEN(body) body".
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';

export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

export interface Envelope {
  readonly payloadType: string;
  readonly payload: string;
  readonly signatures: readonly { readonly keyid: string; readonly sig: string }[];
}

export function pae(payloadType: string, body: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/** cosign's key id is empty for a key pair; osb names the key by the sha256 of its public DER. */
export const keyId = (pub: KeyObject): string => createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');

export function signEnvelope(key: KeyObject, pub: KeyObject, payload: Buffer, payloadType = INTOTO_PAYLOAD_TYPE): Envelope {
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid: keyId(pub), sig: sign('sha256', pae(payloadType, payload), key).toString('base64') }] };
}

export interface Subject {
  readonly name: string;
  readonly sha256: string;
}

export interface OpenedEnvelope {
  readonly predicateType: string;
  readonly subjects: readonly Subject[];
}

/**
 * Check an envelope from anywhere: its shape, a signature by `pub` over the PAE, then the
 * in-toto statement it carries. A string says what is wrong.
 */
export function openEnvelope(pub: KeyObject, text: Buffer): OpenedEnvelope | string {
  let env: Partial<Envelope>;
  try {
    env = JSON.parse(text.toString('utf8')) as Partial<Envelope>;
  } catch {
    return 'is not a DSSE envelope (not JSON)';
  }
  if (typeof env?.payload !== 'string' || typeof env.payloadType !== 'string' || !Array.isArray(env.signatures)) return 'is not a DSSE envelope (payload, payloadType, signatures)';
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) return `carries ${JSON.stringify(env.payloadType).slice(0, 60)}, not an in-toto statement`;
  const body = Buffer.from(env.payload, 'base64');
  const signed = pae(env.payloadType, body);
  const ok = env.signatures.slice(0, 16).some((s) => {
    if (typeof s?.sig !== 'string') return false;
    try {
      return verify('sha256', signed, pub, Buffer.from(s.sig, 'base64'));
    } catch {
      return false;
    }
  });
  if (!ok) return 'has no signature by this key over its payload (the payload or the signature was changed, or another key signed it)';
  let st: { _type?: unknown; predicateType?: unknown; subject?: unknown };
  try {
    st = JSON.parse(body.toString('utf8')) as typeof st;
  } catch {
    return 'signs a payload that is not JSON';
  }
  if (typeof st._type !== 'string' || !st._type.startsWith('https://in-toto.io/Statement/') || typeof st.predicateType !== 'string' || !Array.isArray(st.subject)) return 'signs something that is not an in-toto statement';
  const subjects = (st.subject as { name?: unknown; digest?: { sha256?: unknown } }[])
    .filter((x) => typeof x?.digest?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(x.digest.sha256))
    .map((x) => ({ name: typeof x.name === 'string' ? x.name : '', sha256: x.digest!.sha256 as string }));
  return { predicateType: st.predicateType, subjects };
}

/** An in-toto statement v1 about `subjects`. */
export function statement(subjects: readonly Subject[], predicateType: string, predicate: unknown): Buffer {
  return Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: subjects.map((x) => ({ name: x.name, digest: { sha256: x.sha256 } })), predicateType, predicate }));
}
