/**
 * The scrypt that opens a sigstore encrypted key (cosign's N=2^15: about 90 ms of one core), and
 * its early start: the launcher (tasks/launch.ts) begins it in a worker thread of the lowest
 * priority before osb's own code loads, when the key and its passphrase are on the command line
 * and in the environment, so that it runs on the CPU that osb's loading and the push leave idle. loadPrivateKey takes the result when
 * it is for the same passphrase, salt and cost, and derives it itself otherwise.
 *
 * Kept free of imports beyond Node's: the launcher carries this file.
 */
import { createHash, scrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

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
/** A derivation started early, and how to make the process wait for it (it does not until asked). */
interface Started {
  readonly key: Promise<Uint8Array>;
  readonly wait: () => void;
}
type Early = Map<string, Started>;
const early = (): Early => ((globalThis as Record<symbol, Early | undefined>)[EARLY] ??= new Map());
const keyOf = (passphrase: string, k: ScryptParams) => createHash('sha256').update(`${k.N}:${k.r}:${k.p}:${k.salt.toString('base64')}:`).update(passphrase, 'utf8').digest('hex');

function derive(passphrase: string, k: ScryptParams): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    scrypt(Buffer.from(passphrase, 'utf8'), k.salt, 32, { N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r + (1 << 20) }, (e, out) => (e ? reject(e) : resolve(new Uint8Array(out)))),
  );
}

/**
 * scrypt in a worker thread that lowers its own priority (on Linux a thread's nice value is its
 * own): started before osb's code loads, it takes the CPU the push leaves idle instead of
 * competing with the registry's upload. The worker does not keep the process alive until someone
 * waits for the key, so a command refused meanwhile exits at once.
 */
function deriveAside(passphrase: string, k: ScryptParams): Started {
  // Loaded here, not with the launcher: a command that signs nothing has no use for it (~1.5 ms).
  const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
  const w = new Worker(
    `const { parentPort, workerData: d } = require('node:worker_threads');
try { require('node:os').setPriority(19); } catch {}
parentPort.postMessage(require('node:crypto').scryptSync(Buffer.from(d.passphrase, 'utf8'), Buffer.from(d.salt, 'base64'), 32, { N: d.N, r: d.r, p: d.p, maxmem: d.maxmem }));`,
    { eval: true, workerData: { passphrase, salt: k.salt.toString('base64'), N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r + (1 << 20) } },
  );
  w.unref();
  const key = new Promise<Uint8Array>((resolve, reject) => {
    w.once('message', (m: Uint8Array) => resolve(new Uint8Array(m)));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`the key derivation stopped (exit ${code})`)));
  });
  return { key, wait: () => w.ref() };
}

/** scrypt on libuv's thread pool, or the one the launcher started for the same inputs. */
export function deriveKey(passphrase: string, k: ScryptParams): Promise<Uint8Array> {
  const id = keyOf(passphrase, k);
  const started = early().get(id);
  early().delete(id);
  if (!started) return derive(passphrase, k);
  started.wait();
  return started.key;
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
    // A run that signs nothing has no use for it: it would only take CPU.
    if (!path || passphrase === undefined || argv.some((a) => a === '--dry-run' || a === '--help' || a === '-h')) return;
    const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(readFileSync(path, 'utf8'));
    if (!m || !ENCRYPTED_PEMS.includes(m[1]!)) return;
    const k = scryptParamsOf(JSON.parse(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64').toString('utf8')) as Parameters<typeof scryptParamsOf>[0]);
    if (typeof k === 'string') return;
    const started = deriveAside(passphrase, k);
    started.key.catch(() => undefined); // whoever takes it sees the failure
    early().set(keyOf(passphrase, k), started);
  } catch {
    // not a key osb can read early: loadPrivateKey reads it and says why
  }
}
