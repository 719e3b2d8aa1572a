/**
 * Kernel config fragments: composed like Kata's (common, then the arch's, then the user's; a
 * later fragment overrides an earlier one), and checked after Kconfig has had its say: every
 * option a fragment asked for must be in the final .config, or the build fails with the list.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OsbError } from '../lib/errors.js';
import { packagePath } from '../lib/package-root.js';

/** CONFIG_NAME → value as written in a .config ("y", "m", "\"str\"", "123"), or "n" for "is not set". */
export type ConfigMap = Map<string, string>;

export interface FragmentOption {
  readonly name: string;
  readonly value: string;
  /** Fragment file and line, for messages. */
  readonly where: string;
}

/** The fragments shipped with osb (kernel-builder/configs/ in its package). */
export function configsDir(): string {
  const p = packagePath('kernel-builder', 'configs');
  try {
    readdirSync(p);
    return p;
  } catch {
    throw new OsbError(`kernel config fragments not found (${p})`, 'reinstall osb');
  }
}

/** Fragment files in merge order: common/*.conf, ARCH/*.conf (sorted), then the user's. */
export async function fragmentFiles(arch: string, user: readonly string[]): Promise<string[]> {
  const dir = configsDir();
  const list = async (d: string) => (await readdir(join(dir, d)).catch(() => [] as string[])).filter((n) => n.endsWith('.conf')).sort().map((n) => join(dir, d, n));
  return [...(await list('common')), ...(await list(arch)), ...user];
}

/** Parse one fragment; a line that is not `CONFIG_X=value` or `# CONFIG_X is not set` is an error. */
export function parseFragment(text: string, file: string): FragmentOption[] {
  const out: FragmentOption[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const where = `${file}:${i + 1}`;
    if (!line) return;
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) return void out.push({ name: unset[1]!, value: 'n', where });
    if (line.startsWith('#')) return;
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(y|m|n|-?\d+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$/.exec(line);
    if (!m) throw new OsbError(`syntax error in kernel config fragment ${where}: '${line}'`, 'lines must be CONFIG_NAME=value or "# CONFIG_NAME is not set"');
    out.push({ name: m[1]!, value: m[2]!, where });
  });
  return out;
}

/** Merge fragments in order; later values win (as merge_config.sh). Returns the merged text. */
export function mergeFragments(fragments: readonly { file: string; text: string }[]): { options: Map<string, FragmentOption>; text: string } {
  const options = new Map<string, FragmentOption>();
  for (const f of fragments) for (const o of parseFragment(f.text, f.file)) options.set(o.name, o);
  const text = [...options.values()].map((o) => (o.value === 'n' ? `# ${o.name} is not set` : `${o.name}=${o.value}`)).join('\n') + '\n';
  return { options, text };
}

export function parseDotConfig(text: string): ConfigMap {
  const m: ConfigMap = new Map();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set) m.set(set[1]!, set[2]!);
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) m.set(unset[1]!, 'n');
  }
  return m;
}

/** Kconfig facts osb reports when an option was dropped: where it is defined and what it depends on. */
export interface KconfigSymbol {
  readonly file: string;
  readonly dependsOn: readonly string[];
}

/**
 * Index `config NAME` blocks by following `source` from the top Kconfig, so each symbol carries
 * the conditions of the `if`/`menu` blocks around it (EROFS_FS sits inside `if MISC_FILESYSTEMS`).
 */
export async function indexKconfig(srcDir: string, srcArch = 'x86'): Promise<Map<string, KconfigSymbol>> {
  const index = new Map<string, KconfigSymbol>();
  const seen = new Set<string>();
  const visit = async (rel: string, outer: readonly string[]): Promise<void> => {
    const file = rel.replace(/\$\(SRCARCH\)|\$SRCARCH/g, srcArch);
    if (seen.has(file)) return;
    seen.add(file);
    let text: string;
    try {
      text = await readFile(join(srcDir, file), 'utf8');
    } catch {
      return; // optional sources (osource) may be absent
    }
    for (const src of indexKconfigText(text, file, index, outer)) await visit(src.path, src.conds);
  };
  await visit('Kconfig', []);
  return index;
}

/** Index one Kconfig text; returns the files it sources with the conditions in force there. */
export function indexKconfigText(text: string, file: string, index: Map<string, KconfigSymbol>, outer: readonly string[] = []): { path: string; conds: string[] }[] {
  const sources: { path: string; conds: string[] }[] = [];
  const blocks: { kind: 'if' | 'menu'; cond?: string }[] = [];
  let current: { name: string; deps: string[] } | undefined;
  let menuPending: { kind: 'menu'; cond?: string } | undefined;
  const conds = () => [...outer, ...blocks.map((b) => b.cond).filter((c): c is string => Boolean(c))];
  const flush = () => {
    if (!current) return;
    const prev = index.get(current.name);
    index.set(current.name, { file: prev?.file ?? file, dependsOn: [...new Set([...(prev?.dependsOn ?? []), ...current.deps])] });
    current = undefined;
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '');
    const cfg = /^\s*(menu)?config\s+([A-Za-z0-9_]+)\s*$/.exec(line);
    if (cfg) {
      flush();
      menuPending = undefined;
      current = { name: `CONFIG_${cfg[2]}`, deps: conds() };
      continue;
    }
    const dep = /^\s+depends on\s+(.+?)\s*$/.exec(line);
    if (dep) {
      if (current) current.deps.push(dep[1]!);
      else if (menuPending) menuPending.cond = menuPending.cond ? `${menuPending.cond} && ${dep[1]}` : dep[1]!;
      continue;
    }
    const kw = /^\s*(if|endif|menu|endmenu|source|osource|rsource|choice|endchoice|comment)\b\s*(.*?)\s*$/.exec(line);
    if (!kw) continue;
    flush();
    const [, k, arg] = kw;
    if (k === 'if') blocks.push({ kind: 'if', cond: arg });
    else if (k === 'menu') blocks.push((menuPending = { kind: 'menu' }));
    else if ((k === 'endif' || k === 'endmenu') && blocks.length) blocks.pop();
    else if (k === 'source' || k === 'osource') sources.push({ path: arg!.replace(/^"|"$/g, ''), conds: conds() });
  }
  flush();
  return sources;
}

export interface ConfigCheck {
  /** Asked for, known to Kconfig, but not in the final config: an error. */
  readonly dropped: readonly { option: FragmentOption; got: string; dependsOn: readonly string[] }[];
  /** Not defined by any Kconfig of this kernel: a warning. */
  readonly unknown: readonly FragmentOption[];
}

/** Compare what fragments asked for with the final .config. */
export function checkConfig(requested: ReadonlyMap<string, FragmentOption>, final: ConfigMap, kconfig: ReadonlyMap<string, KconfigSymbol>): ConfigCheck {
  const dropped: ConfigCheck['dropped'][number][] = [];
  const unknown: FragmentOption[] = [];
  for (const o of requested.values()) {
    const got = final.get(o.name) ?? 'n';
    if (got === o.value) continue;
    if (!kconfig.has(o.name)) {
      if (o.value !== 'n') unknown.push(o);
      continue;
    }
    dropped.push({ option: o, got, dependsOn: kconfig.get(o.name)!.dependsOn });
  }
  return { dropped, unknown };
}

export function droppedError(check: ConfigCheck): OsbError {
  const lines = check.dropped.map((d) => `${d.option.name}=${d.option.value} (${d.option.where}) ended up ${d.got === 'n' ? 'not set' : d.got}${d.dependsOn.length ? `; it depends on ${d.dependsOn.join(' && ')}` : ''}`);
  return new OsbError(
    `the kernel dropped ${check.dropped.length} option(s) the config fragments asked for: ${lines.join('; ')}`,
    'enable what they depend on in a fragment (--kernel-config-fragment), or remove them',
  );
}

export function readFragmentFiles(files: readonly string[]): { file: string; text: string }[] {
  return files.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch {
      throw new OsbError(`kernel config fragment ${file} cannot be read`, 'check the path given to --kernel-config-fragment');
    }
  });
}

/**
 * Whether a built kernel's .config can unpack an initrd compressed this way; undefined when
 * there is no such config to read (a kernel osb did not build).
 */
export function kernelReadsInitrd(configPath: string, compression: string): boolean | undefined {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch {
    return undefined;
  }
  const cfg = parseDotConfig(text);
  if (cfg.get('CONFIG_BLK_DEV_INITRD') !== 'y') return false;
  return compression === 'none' || cfg.get(`CONFIG_RD_${compression.toUpperCase()}`) === 'y';
}
