/**
 * The project file, osb.yaml: the settings table's keys (snake_case) plus the lists a build
 * needs (`repos`). Every key is checked, and every error names file:line. Parsed with the `yaml`
 * package, whose nodes carry their source ranges. Its JSON Schema is generated from the table.
 *
 * Designed to grow: later keys (`parent`, `layers`, `publish_*`) are new top-level entries.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import { UsageError } from '../../lib/errors.js';
import { suggest } from './suggest.js';
import { SETTINGS, flagOf, kebab, yamlKey, type ListKey, type Setting } from '../settings/table.js';
import { checkType, parseCmds, parseCopyfiles, parseModules, parseRepoList, parseVars, scalarText, unalias, type ProjectFile, type ProjectValue, type YamlScope } from './lists.js';

export type { ProjectFile, ProjectValue } from './lists.js';

/** Settings a project file may set: every input setting, and the workdir. */
export const FILE_SETTINGS: readonly Setting[] = SETTINGS.filter((s) => !s.perRun);
const BY_YAML = new Map(FILE_SETTINGS.map((s) => [yamlKey(s), s]));
/** The list keys of osb.yaml and how each is read. */
const LISTS: Readonly<Record<string, { key: ListKey; read: (node: Node | null | undefined, scope: YamlScope) => unknown }>> = {
  repos: { key: 'repos', read: parseRepoList },
  modules: { key: 'modules', read: parseModules },
  copyfiles: { key: 'copyfiles', read: parseCopyfiles },
  cmds: { key: 'cmds', read: parseCmds },
  ansible_vars: { key: 'ansibleVars', read: (n, scope) => parseVars(n, scope, 'ansible_vars') },
};

export async function loadProjectFile(path: string, display: string): Promise<ProjectFile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read project file ${display}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'pass --config (OSB_CONFIG) an existing osb.yaml');
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => lc.linePos(offset ?? 0).line;
  const fail = (line: number, what: string, hint?: string): never => {
    throw new UsageError(`${display}:${line}: ${what}`, hint ?? 'osb config --schema prints every key osb.yaml takes');
  };
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    fail(e.linePos?.[0].line ?? at(e.pos[0]), `YAML syntax error: ${e.message.split('\n')[0]}`, 'fix the YAML syntax');
  }
  const values = new Map<string, ProjectValue>();
  const lists = new Map<ListKey, { value: unknown; line: number }>();
  const dir = dirname(resolve(path));
  const top = doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) return { display, dir, values, lists, format: 'osb' };
  if (!isMap(top)) fail(at(top.range?.[0]), 'the file must be a mapping of keys to values (distro: debian, ...)');
  const scope: YamlScope = { doc, line: (n) => at(n?.range?.[0]), fail, base: dir, display };
  const pairs = (top as { items: Pair<Node, Node>[] }).items;
  // OpenCHAMI image-build's config: its keys live under `options:`.
  if (pairs.some((p) => isScalar(p.key) && p.key.value === 'options')) {
    const { readImageBuildConfig } = await import('./image-build.js');
    return readImageBuildConfig(pairs, scope, unalias);
  }
  for (const pair of pairs) {
    const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const line = at(pair.key?.range?.[0]);
    const list = LISTS[key];
    if (list) {
      lists.set(list.key, { value: list.read(unalias(pair.value, doc, (n, what) => fail(at(n.range?.[0]), `${key}: ${what}`)), scope), line });
      continue;
    }
    const s = BY_YAML.get(key);
    if (!s) {
      const perRun = SETTINGS.find((x) => yamlKey(x) === key);
      if (perRun) fail(line, `${key} is a per-run option (${kebab(perRun.key)}), not a project setting`, `pass it on the command line`);
      // The flag's name where osb.yaml has its own (extra_pkgs, extra-pkgs: packages; hook: hooks).
      const named = FILE_SETTINGS.find((x) => [kebab(x.key), kebab(x.key).replace(/-/g, '_')].includes(key.replace(/^--/, '')));
      const near = named ? yamlKey(named) : suggest(key, [...BY_YAML.keys(), ...Object.keys(LISTS)]);
      fail(line, `unknown key '${key}'${near ? `; did you mean '${near}'?` : ''}${named ? ` (osb.yaml's name for ${flagOf(named)})` : ''}`);
    }
    const raw = scalarText(pair.value, doc, (n, what) => fail(at(n.range?.[0]), `${key}: ${what}`));
    checkType(s!, raw, (what) => fail(at(pair.value?.range?.[0] ?? pair.key?.range?.[0]), `${key} ${what}`));
    values.set(s!.key, { raw, line });
  }
  return { display, dir, values, lists, format: 'osb' };
}

const typeSchema = (s: Setting): Record<string, unknown> => {
  switch (s.type) {
    case 'boolean':
      return { oneOf: [{ type: 'boolean' }, { type: 'string', enum: ['yes', 'no', 'true', 'false', '1', '0', 'on', 'off', 'y', 'n'] }] };
    case 'number':
      return { type: 'integer', ...(s.min !== undefined ? { minimum: s.min } : {}), ...(s.choices ? { enum: s.choices.map(Number) } : {}) };
    case 'array':
      return { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };
    default:
      return s.choices ? { type: 'string', enum: [...s.choices] } : { type: ['string', 'number'] };
  }
};

/** JSON Schema (2020-12) of osb.yaml, from the settings table, for editors. */
export function projectSchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const s of FILE_SETTINGS) {
    properties[yamlKey(s)] = { description: s.describe, ...typeSchema(s), ...(s.default !== undefined && !s.defaultText ? { default: s.default } : {}) };
  }
  properties.repos = {
    description: 'Extra package repositories, each with the key that signs it',
    type: 'array',
    items: {
      type: 'object',
      required: ['url'],
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^(https?|file)://', description: 'Repository URL (apt: the archive root; apk, rpm: the repository)' },
        key: { type: 'string', description: 'Public signing key file, relative to osb.yaml' },
        suite: { type: 'string', description: 'apt: suite (default: the release)' },
        components: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'apt: components (default: main)' },
      },
    },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://osb.invalid/osb.schema.json',
    title: 'osb.yaml',
    description: 'osb project file: settings (as in `osb help`), packages, repos and hooks',
    type: 'object',
    additionalProperties: false,
    properties,
  };
}
