/**
 * A passphrase from the terminal, not echoed (as cosign asks for one). Without a terminal there
 * is nobody to ask: one line says which variable to set instead.
 */
import { openSync, closeSync, readSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { OsbError } from '../../lib/errors.js';

function readHidden(prompt: string): string {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    throw new OsbError('the signing key needs its passphrase, and there is no terminal to ask', 'set OSB_SIGN_PASSWORD (an empty value for a key written without one)');
  }
  const stty = (arg: string) => spawnSync('stty', [arg], { stdio: [fd, 'ignore', 'ignore'] });
  try {
    writeSync(fd, prompt);
    stty('-echo');
    const buf = Buffer.alloc(1);
    const bytes: number[] = [];
    while (readSync(fd, buf, 0, 1, null) === 1 && buf[0] !== 0x0a && buf[0] !== 0x0d) bytes.push(buf[0]!);
    writeSync(fd, '\n');
    return Buffer.from(bytes).toString('utf8');
  } finally {
    stty('echo');
    closeSync(fd);
  }
}

/** Ask once, or (for a new key) twice, refusing two different answers. */
export async function askPassphrase(prompt: string, confirm: boolean): Promise<string> {
  const first = readHidden(prompt);
  if (confirm && readHidden('again: ') !== first) throw new OsbError('the two passphrases differ', 'run `osb keygen` again');
  return first;
}
