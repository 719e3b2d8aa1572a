/**
 * The registry client's options from the settings, for every part that talks to a registry:
 * publish, the build cache (--cache-to, --cache-from) and --parent docker://.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import type { Settings } from '../settings/table.js';

/** TLS, credentials (--creds or the auth files), retries. */
export async function registryOptions(ctx: Pick<BuildContext, 'log' | 'signal'>, s: Settings, target: { host: string; repo: string }) {
  const { findCredentials, parseCreds } = await import('../../publish/auth.js');
  const found = s.creds === undefined ? findCredentials(target.host, target.repo, s.registryAuthFile ? { ...process.env, REGISTRY_AUTH_FILE: s.registryAuthFile } : process.env) : undefined;
  if (found) ctx.log.debug(`credentials for ${target.host} from ${found.file}`);
  let ca: Buffer | undefined;
  if (s.registryCa) {
    // Checked when given; again here, since a remembered file may have changed since.
    const { checkPemFile } = await import('../settings/grammar.js');
    ca = readFileSync(checkPemFile(resolve(s.registryCa), '--registry-ca'));
  }
  return {
    ...target,
    insecure: s.insecureRegistry,
    ca,
    credentials: s.creds !== undefined ? parseCreds(s.creds) : found,
    retry: { retries: s.registryRetries, signal: ctx.signal },
    log: ctx.log,
  };
}

