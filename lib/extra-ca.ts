/**
 * NODE_EXTRA_CA_CERTS, trusted from osb's first TLS connection instead of from Node's start.
 *
 * Node 20 reads and parses that file, and with it its whole bundled root store, when the
 * process starts, before any script runs: ~35 ms here on every osb command where it is set (CI
 * images and corporate hosts set it to the system bundle), though most commands never speak TLS.
 * osb defers that work to its first TLS connection: the launcher's first line, run by /bin/sh when `osb` is run as a program (`npx osb`,
 * the bin), moves the variable to DEFERRED before it execs Node (scripts/bundle.ts), and the
 * launcher gives it back to the environment, for osb's children, and calls deferExtraCa.
 *
 * What then holds: every TLS connection made without its own `ca` (osb's registry client, the
 * S3 SDK, fetch) trusts Node's bundled roots and the file's certificates, as Node would have; one
 * with a `ca` (--registry-ca) trusts only that, as in Node. A file that cannot be read gives
 * Node's own warning, at the first connection, and the bundled roots alone. Run as
 * `node main.cjs`, nothing is deferred: Node has loaded the file itself.
 *
 * Why by hand: no library defers a Node start-up setting; the one hook is tls.createSecureContext,
 * which tls.connect calls through the module's export (https, undici's fetch and the SDK all do).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type tls from 'node:tls';

/** Where the launcher's shell line keeps the variable while Node starts. */
export const DEFERRED = 'OSB_DEFERRED_NODE_EXTRA_CA_CERTS';

/**
 * The options tls.createSecureContext reads, besides `ca` (Node 20's lib/_tls_common.js and
 * lib/internal/tls/secure-context.js). Connections that set none of them but to a plain value
 * share one context, so the certificates are parsed once, not on every connection.
 */
const CONTEXT_OPTIONS = [
  'allowPartialTrustChain', 'cert', 'ciphers', 'clientCertEngine', 'crl', 'dhparam', 'ecdhCurve', 'honorCipherOrder', 'key', 'maxVersion',
  'minVersion', 'passphrase', 'pfx', 'privateKeyEngine', 'privateKeyIdentifier', 'secureOptions', 'secureProtocol', 'sessionIdContext',
  'sessionTimeout', 'sigalgs', 'ticketKeys',
] as const;

/** The key of a context that can be shared, or undefined when an option is not a plain value (a key, a certificate). */
function shareKey(o: Record<string, unknown>): string | undefined {
  const parts: unknown[] = [];
  for (const k of CONTEXT_OPTIONS) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined;
    parts.push(k, v);
  }
  return JSON.stringify(parts);
}

/**
 * Take the deferred variable back (the launcher calls this first): NODE_EXTRA_CA_CERTS is in the
 * environment again, and TLS will trust the file from the first connection on.
 */
export function deferExtraCa(env: NodeJS.ProcessEnv = process.env): void {
  const file = env[DEFERRED];
  if (file === undefined) return;
  delete env[DEFERRED];
  if (file === '') return;
  env.NODE_EXTRA_CA_CERTS = file;
  const t = createRequire(import.meta.url)('node:tls') as typeof tls;
  const create = t.createSecureContext;
  let ca: string[] | undefined;
  const shared = new Map<string, tls.SecureContext>();
  const caList = (): string[] => {
    if (ca) return ca;
    let pem = '';
    try {
      pem = readFileSync(file, 'utf8');
    } catch (e) {
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return (ca = pem ? [...t.rootCertificates, pem] : [...t.rootCertificates]);
  };
  t.createSecureContext = function createSecureContext(options?: tls.SecureContextOptions): tls.SecureContext {
    if (options?.ca !== undefined) return create(options);
    const o = (options ?? {}) as Record<string, unknown>;
    const key = shareKey(o);
    if (key === undefined) return create({ ...o, ca: caList() });
    let c = shared.get(key);
    if (!c) shared.set(key, (c = create({ ...o, ca: caList() })));
    return c;
  };
}
