/**
 * Where osb's own files are (the shipped agent, signing keys, kernel fragments, package.json):
 * the nearest directory above this module holding osb's package.json. One answer for the
 * TypeScript sources (tests), the tsc output in dist/ and the bundled CLI in dist/tasks/, whose
 * modules sit at different depths.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'osb') return (root = dir);
    } catch {
      // no package.json here, or not osb's: keep walking up
    }
    if (dirname(dir) === dir) throw new Error(`osb's package.json not found above ${fileURLToPath(import.meta.url)}`);
  }
}

/** osb's version, from its package.json (osb --version, the provenance and the SBOMs). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
}

/** A path inside osb's package, e.g. packagePath('distros', 'keys'). */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
