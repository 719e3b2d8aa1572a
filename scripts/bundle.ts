/**
 * Build step (`npm run build`, after tsc): bundle the command line into one CommonJS file,
 * dist/tasks/osb.cjs, and write the launcher users run, dist/tasks/main.cjs (tasks/launch.ts),
 * which loads it with V8's code cache. The launcher is CommonJS too: an ES module as the entry
 * point starts Node's ES module loader, about 5 ms on every command before osb's first line.
 *
 * Why: every osb command pays for loading and compiling its code before it does anything.
 * Loading ~250 small ES modules (execa alone is over 100 files) cost more than the work of a short
 * command, and even bundled into chunks per command path, compiling them was the largest part of
 * the time before the first tool starts. One file compiles once and then comes from the code
 * cache; only a CommonJS script can take a code cache on Node 18 and 20 (vm.Script). tsc's
 * per-module output stays in dist/ for the benchmarks and for the tests that import modules; the
 * CLI users run is this bundle. The AWS SDK stays outside: it is large, only `osb publish
 * --publish-s3` loads it, and it loads from node_modules as before.
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/package-root.js';

const root = packageRoot();
const out = join(root, 'dist', 'tasks');
rmSync(join(out, 'chunks'), { recursive: true, force: true });
const common = { bundle: true, platform: 'node', target: 'node18', logLevel: 'warning' } as const;
const cli = await build({
  ...common,
  write: false,
  entryPoints: [join(root, 'tasks', 'main.ts')],
  outfile: join(out, 'osb.cjs'),
  format: 'cjs',
  external: ['@aws-sdk/*'],
  // import.meta.url (the package root, zx's globals) is the bundle's own URL, as it was per module.
  define: { 'import.meta.url': '__osbBundleUrl' },
  banner: { js: "const __osbBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
});
// esbuild leaves import() of what it does not bundle (Node's modules, the AWS SDK) as it is. In a
// script run with a code cache, Node 18 and 20 have no loader for it (the launcher would need an
// importModuleDynamically callback, which the code cache drops), so it becomes require(), as
// esbuild itself writes it for the modules it bundles.
const DYNAMIC = /\bimport\(("(?:node:[a-z_/]+|@aws-sdk\/[a-z0-9-]+)")\)/g;
let code = '';
for (const f of cli.outputFiles) {
  const text = f.path.endsWith('.cjs') ? (code = f.text.replace(DYNAMIC, 'Promise.resolve().then(() => require($1))')) : f.text;
  writeFileSync(f.path, text);
}
const left = /\bimport\(\s*["'`a-zA-Z_]/.exec(code);
if (left) throw new Error(`the bundle still has an import() at offset ${left.index}: ${code.slice(left.index, left.index + 80)}`);
// The launcher reads the bundle as latin1, which is only right for ASCII (esbuild escapes
// strings and regexes; a comment it keeps may not be).
const wide = /[^\x00-\x7f]/.exec(code);
if (wide) throw new Error(`the bundle is not ASCII at offset ${wide.index}: ${code.slice(Math.max(0, wide.index - 60), wide.index + 20)}`);
const sha256 = createHash('sha256').update(code).digest('hex');
// The launcher is a shell script and a Node script at once: run as a program (`npx osb`, the
// bin), /bin/sh reads its first line, which moves NODE_EXTRA_CA_CERTS aside so that Node does not
// parse it at start (lib/extra-ca.ts), and execs Node on the same file; Node skips the #! line
// and reads the next as a string and a comment. Unless NODE_OPTIONS picks the CA store itself.
const SHELL_LINE = [
  '":" //;',
  'if [ -n "${NODE_EXTRA_CA_CERTS-}" ] && [ -z "${OSB_DEFERRED_NODE_EXTRA_CA_CERTS+x}" ]; then',
  'case " ${NODE_OPTIONS-} " in *openssl-ca*|*bundled-ca*|*system-ca*) ;;',
  '*) OSB_DEFERRED_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export OSB_DEFERRED_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS ;; esac; fi;',
  'exec node "$0" "$@"',
].join(' ');
await build({
  ...common,
  entryPoints: [join(root, 'tasks', 'launch.ts')],
  outfile: join(out, 'main.cjs'),
  format: 'cjs',
  define: { __OSB_BUNDLE_SHA256__: JSON.stringify(sha256), 'import.meta.url': '__osbLauncherUrl' },
  banner: { js: `${SHELL_LINE}\nconst __osbLauncherUrl = require('node:url').pathToFileURL(__filename).href;` },
});
// tsc's unbundled entry point: not what osb runs, and not to be run by mistake.
rmSync(join(out, 'main.js'), { force: true });
rmSync(join(out, 'main.js.map'), { force: true });
