/**
 * Build step (`npm run build`, after tsc): bundle the CLI into dist/tasks/main.js, with the
 * modules only some commands need split into dist/tasks/chunks/ and loaded on demand.
 *
 * Why: every osb command pays Node's module loading before it does anything, and loading ~250
 * small ES modules (execa alone is over 100 files) cost more than the work of a short command
 * (`osb publish`, a no-op `osb all`, the plan before dnf starts). One bundled file per command path
 * halves that. tsc's per-module output stays in dist/ for the benchmarks and for the tests that
 * import modules; the CLI users run is this bundle. The AWS SDK stays outside: it is large, only
 * `osb publish --publish-s3` loads it, and it loads from node_modules as before.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/package-root.js';

const root = packageRoot();
const out = join(root, 'dist', 'tasks');
rmSync(join(out, 'chunks'), { recursive: true, force: true });
await build({
  entryPoints: { main: join(root, 'tasks', 'main.ts') },
  outdir: out,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node18',
  external: ['@aws-sdk/*'],
  // Bundled CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __osbCreateRequire } from 'node:module'; const require = __osbCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
