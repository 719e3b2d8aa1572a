/**
 * The structured values of a project file beyond the settings table: repos, modules, copyfiles,
 * cmds, ansible_vars. osb.yaml and image-build's config share these readers (image-build's forms
 * are osb's), so every entry is checked the same way, and every error names FILE:LINE. The
 * types of a read project file and the YAML helpers both readers use live here too, so neither
 * reader imports the other.
 */
import { resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';
import { suggest } from './suggest.js';
import type { CmdSpec, CopySpec, ListKey, ModuleSpec, RepoSpec, Setting } from '../settings/table.js';

export interface ProjectValue {
  /** The raw value as YAML gave it (scalars as their source text for strings). */
  readonly raw: unknown;
  readonly line: number;
}

export interface ProjectFile {
  /** As the user would name it (relative to the cwd when found there). */
  readonly display: string;
  readonly dir: string;
  readonly values: ReadonlyMap<string, ProjectValue>;
  /** The structured values it gives (repos, cmds, ...), each with the line of its key. */
  readonly lists: ReadonlyMap<ListKey, { readonly value: unknown; readonly line: number }>;
  /** The file's format: osb's own, or OpenCHAMI image-build's (an `options:` block). */
  readonly format: 'osb' | 'image-build';
}

/**
 * A YAML alias (`*name`) as the node its anchor (`&name`) marks, so `packages: *common` means the
 * list itself; an alias whose anchor is not defined before it is an error naming it.
 */
export function unalias(node: Node | null | undefined, doc: Document, fail: (n: Node, what: string) => never): Node | null | undefined {
  for (let hops = 0; node && isAlias(node); hops++) {
    const target = hops < 16 ? (node.resolve(doc) as Node | undefined) : undefined;
    if (!target) fail(node, `*${node.source} is an alias of no anchor (define &${node.source} before it)`);
    node = target;
  }
  return node;
}

export function scalarText(node: Node | null | undefined, doc: Document, fail: (n: Node, what: string) => never): unknown {
  node = unalias(node, doc, fail);
  if (!node) return null;
  if (isScalar(node)) {
    // `os_version: 3.10` is the string 3.10, not the number 3.1: keep what the user wrote.
    return typeof node.value === 'number' && node.source !== undefined ? String(node.source) : node.value;
  }
  if (isSeq(node)) return node.items.map((i) => scalarText(i as Node, doc, fail));
  return node.toJS(doc);
}

/** What each setting type accepts in YAML; `bad` is called with "must be ..., got ...". */
export function checkType(s: Setting, raw: unknown, bad: (what: string) => never): void {
  const got = `got ${JSON.stringify(raw)}`;
  switch (s.type) {
    case 'boolean':
      if (typeof raw === 'boolean') return;
      if (typeof raw === 'string' && /^(yes|no|true|false|1|0|on|off|y|n)$/i.test(raw)) return;
      bad(`must be a boolean (yes/no, true/false), ${got}`);
      break;
    case 'number':
      if (typeof raw === 'number' || (typeof raw === 'string' && /^\d+$/.test(raw))) return;
      bad(`must be a number, ${got}`);
      break;
    case 'array':
      if (typeof raw === 'string' || (Array.isArray(raw) && raw.every((x) => typeof x === 'string' || typeof x === 'number'))) return;
      bad(`must be a list of strings (or one string), ${got}`);
      break;
    default:
      if (typeof raw === 'string' || typeof raw === 'number') return;
      bad(`must be a string, ${got}`);
  }
}

/** What every reader needs: the document, line numbers, failure with FILE:LINE, the file's directory. */
export interface YamlScope {
  readonly doc: Document;
  /** The line of a node (1-based). */
  line(node: Node | null | undefined): number;
  fail(line: number, what: string, hint?: string): never;
  /** Relative paths are relative to this (the project file's directory). */
  readonly base: string;
  /** The file's name as the user gave it, for hints. */
  readonly display: string;
}

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function entries(node: Node | null | undefined, scope: YamlScope, key: string, shape: string): Node[] {
  if (!isSeq(node)) return scope.fail(scope.line(node), `${key} must be a list of ${shape}`);
  return node.items as Node[];
}

/** The keys of a mapping entry, each checked against `allowed` (a misspelling gets a suggestion). */
function mapEntry(node: Node, scope: YamlScope, key: string, allowed: readonly string[]): Record<string, unknown> {
  const line = scope.line(node);
  if (!isMap(node)) return scope.fail(line, `each ${key} entry must be a mapping (${allowed.join(', ')})`);
  for (const pair of node.items as Pair<Node, Node>[]) {
    const k = String(isScalar(pair.key) ? pair.key.value : pair.key);
    if (!allowed.includes(k)) {
      const near = suggest(k, allowed);
      scope.fail(scope.line(pair.key), `unknown key '${k}' in a ${key} entry${near ? `; did you mean '${near}'?` : ''}`, `a ${key} entry takes ${allowed.join(', ')}`);
    }
  }
  return node.toJS(scope.doc) as Record<string, unknown>;
}

/** The fields of a dnf/zypper .repo file body (image-build's `config:` form): baseurl, gpgcheck, gpgkey. */
export function parseRepoConfig(body: string): { id?: string; baseurl?: string; gpgcheck?: boolean; gpgkey: string[] } {
  let id: string | undefined;
  let baseurl: string | undefined;
  let gpgcheck: boolean | undefined;
  const gpgkey: string[] = [];
  let key = '';
  for (const raw of body.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trimEnd();
    if (!line.trim()) continue;
    const section = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (section) {
      // One repository per entry: the first section is the one.
      if (id !== undefined) break;
      id = section[1]!.trim();
      continue;
    }
    const kv = /^\s*([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    // A continuation line (an indented second URL of baseurl or gpgkey).
    const values = (kv ? kv[2]! : line).split(/[\s,]+/).filter(Boolean);
    if (kv) key = kv[1]!.toLowerCase();
    else if (!/^\s/.test(raw)) continue;
    if (key === 'baseurl' && kv) baseurl = values[0];
    else if (key === 'gpgcheck' && kv) gpgcheck = !/^(0|no|false|off)$/i.test(values[0] ?? '');
    else if (key === 'gpgkey') gpgkey.push(...values);
  }
  return { id, baseurl, gpgcheck, gpgkey };
}

const URL_RE = /^(https?|file):\/\//;

/**
 * `repos`: osb's form {url, key, suite, components}, image-build's {alias, url, gpg, priority} and
 * {alias, config: <a .repo body>, gpg_key}. A key given as an http(s) URL is fetched when the
 * rootfs is built, once (`keyUrl`); a file:// key or a path is a host file.
 */
export function parseRepoList(node: Node | null | undefined, scope: YamlScope): RepoSpec[] {
  const KEYS = ['url', 'key', 'suite', 'components', 'alias', 'gpg', 'config', 'gpg_key', 'priority'];
  return entries(node, scope, 'repos', '{url, key} (or image-build\'s {alias, url, gpg} / {alias, config, gpg_key})').map((entry) => {
    const line = scope.line(entry);
    const r = mapEntry(entry, scope, 'repos', KEYS);
    for (const k of ['url', 'key', 'suite', 'alias', 'gpg', 'config', 'gpg_key'] as const) {
      if (r[k] !== undefined && typeof r[k] !== 'string') scope.fail(line, `repos ${k} must be a string, got ${JSON.stringify(r[k])}`);
    }
    if (r.priority !== undefined && !(typeof r.priority === 'number' || /^\d+$/.test(String(r.priority)))) scope.fail(line, `repos priority must be a number, got ${JSON.stringify(r.priority)}`);
    let url = r.url as string | undefined;
    let keys = [r.key, r.gpg, r.gpg_key].filter(str) as string[];
    let gpgcheck: boolean | undefined;
    if (r.config !== undefined) {
      if (url) scope.fail(line, 'a repos entry has url or config, not both');
      const c = parseRepoConfig(r.config as string);
      if (!c.baseurl) scope.fail(line, `the repos config of '${r.alias ?? '?'}' has no baseurl (metalink and mirrorlist are not followed)`, 'give the repository by baseurl');
      url = c.baseurl;
      gpgcheck = c.gpgcheck;
      keys = [...keys, ...c.gpgkey];
    }
    if (!str(url) || !URL_RE.test(url)) scope.fail(line, `repos entry needs url: an http(s):// or file:// URL, got ${JSON.stringify(url)}`);
    if (r.alias !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(r.alias as string)) scope.fail(line, `repos alias '${r.alias}' is not a repository id (letters, digits, . _ : -)`);
    if (keys.length > 1) scope.fail(line, `a repos entry takes one signing key, got ${keys.length} (${keys.join(', ')})`, 'give the key that signs this repository');
    const key = keys[0];
    const comps = r.components;
    if (comps !== undefined && !(typeof comps === 'string' || (Array.isArray(comps) && comps.every((c) => typeof c === 'string')))) scope.fail(line, 'repos components must be a list of strings');
    const keyIsUrl = key !== undefined && /^https?:\/\//.test(key);
    return {
      url: url!,
      ...(r.alias ? { alias: r.alias as string } : {}),
      ...(key && !keyIsUrl ? { key: resolve(scope.base, key.replace(/^file:\/\//, '')) } : {}),
      ...(keyIsUrl ? { keyUrl: key } : {}),
      ...(gpgcheck === false ? { gpgcheck: false } : {}),
      ...(r.priority !== undefined ? { priority: Number(r.priority) } : {}),
      ...(r.suite ? { suite: r.suite as string } : {}),
      ...(comps ? { components: typeof comps === 'string' ? comps.split(/[\s,]+/).filter(Boolean) : (comps as string[]) } : {}),
    };
  });
}

const MODULE_COMMANDS = ['enable', 'disable', 'install', 'remove', 'reset'] as const;

/** `modules`: a mapping of dnf module commands to lists of module specs (enable: [nodejs:18]). */
export function parseModules(node: Node | null | undefined, scope: YamlScope): ModuleSpec[] {
  if (!isMap(node)) return scope.fail(scope.line(node), 'modules must be a mapping of dnf module commands to lists (enable: [name:stream], install: [...])');
  return (node.items as Pair<Node, Node>[]).map((pair) => {
    const command = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const line = scope.line(pair.key);
    if (!(MODULE_COMMANDS as readonly string[]).includes(command)) {
      const near = suggest(command, MODULE_COMMANDS);
      scope.fail(line, `unknown module command '${command}'${near ? `; did you mean '${near}'?` : ''}`, `modules takes ${MODULE_COMMANDS.join(', ')}`);
    }
    const v = pair.value?.toJS(scope.doc) as unknown;
    const specs = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(specs) || !specs.every((x) => typeof x === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.+:/-]*$/.test(x))) {
      scope.fail(scope.line(pair.value), `modules ${command} must be a list of module specs (name, name:stream, name:stream/profile), got ${JSON.stringify(v)}`);
    }
    return { command: command as ModuleSpec['command'], specs: specs as string[] };
  });
}

const LOGLEVELS = ['DEBUG', 'INFO', 'WARN', 'WARNING', 'ERROR'];

/** `cmds`: each a string or {cmd, loglevel}. */
export function parseCmds(node: Node | null | undefined, scope: YamlScope): CmdSpec[] {
  return entries(node, scope, 'cmds', "commands (a string, or {cmd, loglevel})").map((entry) => {
    const line = scope.line(entry);
    if (isScalar(entry)) {
      if (!str(entry.value)) scope.fail(line, `a cmds entry must be a command, got ${JSON.stringify(entry.value)}`);
      return { cmd: entry.value as string, loglevel: 'ERROR' as const };
    }
    const c = mapEntry(entry, scope, 'cmds', ['cmd', 'loglevel', 'buildah_extra_args']);
    if (c.buildah_extra_args !== undefined) {
      scope.fail(line, 'buildah_extra_args: osb runs cmds in the rootfs with no container engine, so there is no buildah run to pass them to', 'drop buildah_extra_args (a --volume the command needs: copy the files in with copyfiles first)');
    }
    if (!str(c.cmd)) scope.fail(line, `a cmds entry needs cmd: a command, got ${JSON.stringify(c.cmd)}`);
    const level = c.loglevel === undefined ? 'ERROR' : String(c.loglevel).toUpperCase();
    if (!LOGLEVELS.includes(level)) scope.fail(line, `cmds loglevel must be one of DEBUG, INFO, WARN, ERROR, got ${JSON.stringify(c.loglevel)}`);
    return { cmd: c.cmd as string, loglevel: (level === 'WARNING' ? 'WARN' : level) as CmdSpec['loglevel'] };
  });
}

/**
 * `copyfiles`: {src, dest, opts}: src a host path (relative to the project file), dest a path in
 * the rootfs, opts buildah copy's --chmod MODE and --chown UID:GID (numeric) only.
 */
export function parseCopyfiles(node: Node | null | undefined, scope: YamlScope): CopySpec[] {
  return entries(node, scope, 'copyfiles', '{src, dest}').map((entry) => {
    const line = scope.line(entry);
    const c = mapEntry(entry, scope, 'copyfiles', ['src', 'dest', 'opts']);
    if (!str(c.src)) scope.fail(line, `a copyfiles entry needs src: a host path, got ${JSON.stringify(c.src)}`);
    if (!str(c.dest) || !c.dest.startsWith('/')) scope.fail(line, `copyfiles dest must be an absolute path in the rootfs, got ${JSON.stringify(c.dest)}`);
    if ((c.dest as string).split('/').includes('..')) scope.fail(line, `copyfiles dest ${c.dest} climbs out with ..`, 'give the path in the rootfs without ..');
    const opts = c.opts === undefined ? [] : ([] as unknown[]).concat(c.opts);
    if (!opts.every((o) => typeof o === 'string')) scope.fail(line, 'copyfiles opts must be a list of strings');
    const words = (opts as string[]).flatMap((o) => o.split(/\s+/).filter(Boolean));
    let mode: number | undefined;
    let owner: string | undefined;
    for (let i = 0; i < words.length; i++) {
      const m = /^--(chmod|chown)(?:=(.*))?$/.exec(words[i]!);
      if (!m) scope.fail(line, `copyfiles opts: '${words[i]}' is not handled (osb takes --chmod MODE and --chown UID:GID)`, 'drop it, or set what it does with a cmds entry');
      const value = m![2] ?? words[++i];
      if (m![1] === 'chmod') {
        if (!value || !/^[0-7]{3,4}$/.test(value)) scope.fail(line, `copyfiles --chmod takes an octal mode (0644), got ${JSON.stringify(value)}`);
        mode = parseInt(value!, 8);
      } else {
        if (!value || !/^\d+(:\d+)?$/.test(value)) scope.fail(line, `copyfiles --chown takes numeric UID[:GID] (names mean the rootfs's users, which osb does not look up), got ${JSON.stringify(value)}`);
        owner = value!.includes(':') ? value : `${value}:${value}`;
      }
    }
    return { src: resolve(scope.base, c.src as string), dest: c.dest as string, ...(mode !== undefined ? { mode } : {}), ...(owner ? { owner } : {}) };
  });
}

/** `ansible_vars` (image-build: options.vars): a mapping of variable names to values. */
export function parseVars(node: Node | null | undefined, scope: YamlScope, key: string): Record<string, unknown> {
  if (!isMap(node)) return scope.fail(scope.line(node), `${key} must be a mapping of variable names to values`);
  const vars = node.toJS(scope.doc) as Record<string, unknown>;
  for (const [k] of Object.entries(vars)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) scope.fail(scope.line(node), `${key}: '${k}' is not an Ansible variable name`);
  return vars;
}
