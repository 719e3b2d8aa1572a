/**
 * The scrypt that opens a sigstore encrypted key (cosign's N=2^15: about 90 ms of one core), and
 * its early start: the launcher (tasks/launch.ts) begins it on the thread pool before osb's own
 * code loads, when the key and its passphrase are on the command line and in the environment, so
 * that it runs on the other core while osb loads and plans. loadPrivateKey takes the result when
 * it is for the same passphrase, salt and cost, and derives it itself otherwise.
 *
 * Kept free of imports beyond Node's: the launcher carries this file.
 */
import { createHash, scrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface ScryptParams {
  readonly salt: Buffer;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** The encrypted PEM types cosign 2 and cosign 1 write. */
export const ENCRYPTED_PEMS = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'];

/**
 * The scrypt parameters of a sigstore key document (the JSON inside the PEM), checked: a
 * foreign document names its own cost, and osb reads at most 256 MiB of scrypt memory
 * (cosign's is 32). A string says what is wrong.
 */
export function scryptParamsOf(doc: { kdf?: { name?: unknown; params?: { N?: unknown; r?: unknown; p?: unknown }; salt?: unknown } }): ScryptParams | string {
  const p = doc.kdf?.params ?? {};
  const num = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= max;
  if (doc.kdf?.name !== 'scrypt' || !num(p.N, 1 << 20) || ((p.N as number) & ((p.N as number) - 1)) !== 0 || !num(p.r, 32) || !num(p.p, 16) || 128 * (p.N as number) * (p.r as number) > 256 << 20 || typeof doc.kdf.salt !== 'string') {
    return 'unsupported key derivation (osb reads scrypt using at most 256 MiB, as cosign\'s keys do)';
  }
  return { salt: Buffer.from(doc.kdf.salt, 'base64'), N: p.N as number, r: p.r as number, p: p.p as number };
}

const EARLY = Symbol.for('osb.scrypt');
type Early = Map<string, Promise<Uint8Array>>;
const early = (): Early => ((globalThis as Record<symbol, Early | undefined>)[EARLY] ??= new Map());
const keyOf = (passphrase: string, k: ScryptParams) => createHash('sha256').update(`${k.N}:${k.r}:${k.p}:${k.salt.toString('base64')}:`).update(passphrase, 'utf8').digest('hex');

function derive(passphrase: string, k: ScryptParams): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    scrypt(Buffer.from(passphrase, 'utf8'), k.salt, 32, { N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r + (1 << 20) }, (e, out) => (e ? reject(e) : resolve(new Uint8Array(out)))),
  );
}

/** scrypt on libuv's thread pool, or the one the launcher started for the same inputs. */
export function deriveKey(passphrase: string, k: ScryptParams): Promise<Uint8Array> {
  const id = keyOf(passphrase, k);
  const started = early().get(id);
  early().delete(id);
  return started ?? derive(passphrase, k);
}

/**
 * The launcher's early start: the key file named by --sign-key (or OSB_SIGN_KEY) and the
 * passphrase in OSB_SIGN_PASSWORD or COSIGN_PASSWORD. Anything unexpected (no such file, another
 * format, a cost over the limit) starts nothing: the command then says what is wrong, as before.
 */
export function startKeyDerivation(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  try {
    const i = argv.findIndex((a) => a === '--sign-key' || a.startsWith('--sign-key='));
    const path = i < 0 ? env.OSB_SIGN_KEY : argv[i]!.startsWith('--sign-key=') ? argv[i]!.slice('--sign-key='.length) : argv[i + 1];
    const passphrase = env.OSB_SIGN_PASSWORD ?? env.COSIGN_PASSWORD;
    // A run that signs nothing would only wait for it: the process lives until scrypt ends.
    if (!path || passphrase === undefined || argv.some((a) => a === '--dry-run' || a === '--help' || a === '-h')) return;
    const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(readFileSync(path, 'utf8'));
    if (!m || !ENCRYPTED_PEMS.includes(m[1]!)) return;
    const k = scryptParamsOf(JSON.parse(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64').toString('utf8')) as Parameters<typeof scryptParamsOf>[0]);
    if (typeof k === 'string') return;
    const p = derive(passphrase, k);
    p.catch(() => undefined); // whoever takes it sees the failure
    early().set(keyOf(passphrase, k), p);
  } catch {
    // not a key osb can read early: loadPrivateKey reads it and says why
  }
}
