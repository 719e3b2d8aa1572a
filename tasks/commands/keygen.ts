/**
 * `osb keygen`: cosign.key and cosign.pub in the current directory, as `cosign
 * generate-key-pair` writes them (signing/keys.ts). Never over a key already there.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { writeAtomic } from '../../lib/atomic.js';
import type { CommandRun } from '../cli/command.js';

export const run: CommandRun = async (cmd) => {
  const prefix = typeof cmd.flags['output-key-prefix'] === 'string' ? cmd.flags['output-key-prefix'] : 'cosign';
  if (!/^[A-Za-z0-9._/-]+$/.test(prefix) || prefix.endsWith('/')) throw new UsageError(`--output-key-prefix ${JSON.stringify(prefix)} is not a file name prefix`, 'e.g. --output-key-prefix release');
  const keyFile = resolve(`${prefix}.key`);
  const pubFile = resolve(`${prefix}.pub`);
  for (const f of [keyFile, pubFile]) if (existsSync(f)) throw new UsageError(`${f} exists; osb keygen does not replace a key`, 'move it away, or give --output-key-prefix NAME');
  let pass = process.env.OSB_SIGN_PASSWORD ?? process.env.COSIGN_PASSWORD;
  if (pass === undefined) pass = await (await import('../cli/passphrase.js')).askPassphrase('passphrase for the new private key: ', true);
  const { generateKeyPair } = await import('../../signing/keys.js');
  const k = generateKeyPair(pass);
  await writeAtomic(keyFile, async (tmp) => writeFile(tmp, k.privatePem, { mode: 0o600 }));
  await writeAtomic(pubFile, async (tmp) => writeFile(tmp, k.publicPem, { mode: 0o644 }));
  process.stdout.write(`wrote ${keyFile} (private, encrypted${pass === '' ? ' with an empty passphrase' : ''}) and ${pubFile}\n`);
  return 0;
};
