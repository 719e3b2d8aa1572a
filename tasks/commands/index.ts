/**
 * The command table (DESIGN principle 10): one entry a command, in the order `osb
 * help` lists them. `osb --help`, `osb help`, the README's command table, the parser's checks of
 * each command's words and flags, and the dispatch all come from here. Targets are commands too:
 * their entries come from the target table, so a new target needs no line here.
 */
import type { CommandRun, CommandSpec, ParsedCommand } from '../cli/command.js';
import { parseWith } from '../cli/parse.js';
import { GROUPS, loadTargets } from '../targets/index.js';

const build = async (): Promise<CommandRun> => (await import('./build.js')).run;
const TARGETS_ARG = { name: 'TARGET', min: 0, max: Infinity } as const;

/** The commands that are not targets, after the targets and groups in help. */
const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'check-deps',
    summary: 'Host tools and capabilities each target needs (--json, --install)',
    args: TARGETS_ARG,
    flags: [
      { name: 'json', type: 'boolean', describe: 'machine-readable output' },
      { name: 'install', type: 'boolean', describe: 'install missing tools (root)' },
    ],
    load: async () => (await import('./check-deps.js')).run,
  },
  {
    name: 'config',
    summary: 'Every setting with its value and where it came from (--json; --reset forgets the workdir record; --schema for osb.yaml)',
    flags: [
      { name: 'json', type: 'boolean', describe: 'machine-readable output' },
      { name: 'reset', type: 'boolean', describe: "forget the workdir's recorded settings" },
      { name: 'schema', type: 'boolean', describe: 'print the JSON Schema of osb.yaml' },
    ],
    load: async () => (await import('./config.js')).run,
  },
  {
    name: 'verify-repro',
    summary: 'Build each TARGET (image, initrd, oci; default image) twice in fresh workdirs (other path, umask, mtimes) and compare the sha256 of the artefacts',
    args: TARGETS_ARG,
    load: async () => (await import('./verify-repro.js')).run,
  },
  {
    name: 'keygen',
    summary: 'Write an ECDSA P-256 key pair for --sign-key as cosign does: cosign.key (encrypted; passphrase from OSB_SIGN_PASSWORD or the terminal) and cosign.pub',
    flags: [{ name: 'output-key-prefix', type: 'string', describe: 'file names PREFIX.key and PREFIX.pub (default cosign)' }],
    layered: false,
    load: async () => (await import('./keygen.js')).run,
  },
  {
    name: 'verify',
    summary: "Check what --sign-key signed: a file's DSSE envelopes, or, for an image reference HOST[:PORT]/REPO[:TAG|@DIGEST], its cosign signature and attestations in the registry; exit 1 names what does not match",
    args: { name: 'ARTEFACT', min: 1, max: 1 },
    flags: [{ name: 'key', type: 'string', describe: 'the public key (cosign.pub)' }],
    load: async () => (await import('./verify.js')).run,
  },
  {
    name: 'explain',
    summary: 'Say whether TARGET would rebuild, and which input changed',
    args: { name: 'TARGET', min: 1, max: 1 },
    load: async () => (await import('./explain.js')).run,
  },
  {
    name: 'kata-config',
    summary: "The lines of Kata's configuration.toml for what osb built: kernel, image (or --initrd), rootfs_type, disable_image_nvdimm, kernel_verity_params, for qemu, clh and firecracker",
    load: async () => (await import('./kata-config.js')).run,
  },
  {
    name: 'install-kernel',
    summary: 'Install the built kernel under --prefix (default /usr/share/kata-containers)',
    flags: [{ name: 'prefix', type: 'string', describe: 'destination' }],
    load: async () => (await import('./install-kernel.js')).run,
  },
  {
    name: 'clean',
    summary: 'Remove what osb built in the workdir (only directories it created); --cache empties the cache too',
    flags: [{ name: 'cache', type: 'boolean', describe: 'empty the cache too (base trees, downloads, kernel sources)' }],
    load: async () => (await import('./clean.js')).run,
  },
  { name: 'list-distros', summary: 'Distros osb can build, with their default releases', load: async () => (await import('./list-distros.js')).run },
  { name: 'help', summary: 'Targets, options and every environment variable with its default', layered: false, load: async () => (await import('./help.js')).run },
];

/** Every command: the targets (from the target table), the groups, then the rest. */
export async function commandTable(): Promise<readonly CommandSpec[]> {
  const targets = [...(await loadTargets()).values()].map((t): CommandSpec => ({
    name: t.name,
    summary: t.summary,
    ...(t.passthrough ? { extraArgsHint: `${t.passthrough} go after \`--\`` } : {}),
    load: build,
  }));
  const groups = Object.entries(GROUPS).map(([name, g]): CommandSpec => ({ name, summary: g.summary, load: build }));
  return [...targets, ...groups, ...COMMANDS];
}

/** Parse a command line against the command table (the entry point, and tests). */
export async function parseCommandLine(argv: readonly string[], environ: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<ParsedCommand> {
  return parseWith(await commandTable(), argv, environ, cwd);
}
