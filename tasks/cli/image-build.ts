/**
 * OpenCHAMI image-build's config file, read as it is: its `options:` block and its top-level
 * lists become osb's settings and lists, each with the FILE:LINE it came from. Every key
 * image-build reads (src/image_config.py, src/arguments.py) either maps onto osb or is refused
 * with FILE:LINE and what to do: none is ignored. The table of keys is IMAGE_BUILD_KEYS below;
 * the README's "image-build users" section and the tests walk it.
 */
import { resolve } from 'node:path';
import { isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';
import { suggest } from './suggest.js';
import { checkType, parseCmds, parseCopyfiles, parseModules, parseRepoList, parseVars, scalarText, type ProjectFile, type ProjectValue, type YamlScope } from './lists.js';
import { settingByKey, type ListKey, type RepoSpec } from '../settings/table.js';
import { IMAGE_BUILD_KEYS } from './image-build-keys.js';

export { IMAGE_BUILD_KEYS };

const OPTION_KEYS = Object.keys(IMAGE_BUILD_KEYS).filter((k) => k.startsWith('options.')).map((k) => k.slice('options.'.length));
const TOP_KEYS = ['options', ...Object.keys(IMAGE_BUILD_KEYS).filter((k) => !k.startsWith('options.'))];
const ANSIBLE_ONLY = ['groups', 'playbooks', 'inventory', 'vars', 'ansible_verbosity'];

type Unalias = (node: Node | null | undefined, doc: Document, fail: (n: Node, what: string) => never) => Node | null | undefined;

/** A reference with no registry host (no dot or port in its first part, not localhost) names the local container store. */
export function imageBuildParent(ref: string): string {
  if (/^[a-z-]+:/.test(ref) && /^(docker|oci|oci-archive|containers-storage):/.test(ref)) return ref;
  const first = ref.split('/')[0]!;
  const hasHost = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasHost ? `docker://${ref}` : `containers-storage:${ref}`;
}

export function readImageBuildConfig(pairs: readonly Pair<Node, Node>[], fileScope: YamlScope, unalias: Unalias): ProjectFile {
  const fail = (line: number, what: string, hint?: string): never => fileScope.fail(line, what, hint ?? 'the README\'s "image-build users" section lists every image-build key and what osb does with it');
  const scope: YamlScope = { ...fileScope, fail };
  const { doc } = scope;
  const values = new Map<string, ProjectValue>();
  const lists = new Map<ListKey, { value: unknown; line: number }>();
  const node = (n: Node | null | undefined) => unalias(n, doc, (x, what) => fail(scope.line(x), what));
  const set = (key: string, raw: unknown, line: number, name = key) => {
    const s = settingByKey.get(key)!;
    checkType(s, raw, (what) => fail(line, `${name} ${what}`));
    values.set(key, { raw, line });
  };
  const keyOf = (p: Pair<Node, Node>) => String(isScalar(p.key) ? p.key.value : p.key);

  const top = new Map<string, Pair<Node, Node>>();
  for (const p of pairs) {
    const k = keyOf(p);
    if (!TOP_KEYS.includes(k)) {
      const near = suggest(k, TOP_KEYS);
      fail(scope.line(p.key), `unknown image-build key '${k}'${near ? `; did you mean '${near}'?` : ''}`, `an image-build config has options: and ${TOP_KEYS.slice(1).join(', ')}`);
    }
    top.set(k, p);
  }
  const optionsNode = node(top.get('options')!.value);
  if (!isMap(optionsNode)) return fail(scope.line(top.get('options')!.key), 'options must be a mapping (layer_type, name, pkg_manager, ...)');
  const opts = new Map<string, { pair: Pair<Node, Node>; line: number; raw: unknown }>();
  for (const p of optionsNode.items as Pair<Node, Node>[]) {
    const k = keyOf(p);
    const line = scope.line(p.key);
    if (!OPTION_KEYS.includes(k)) {
      const near = suggest(k, OPTION_KEYS);
      fail(line, `unknown image-build option '${k}'${near ? `; did you mean '${near}'?` : ''}`, `options takes ${OPTION_KEYS.join(', ')}`);
    }
    opts.set(k, { pair: p, line, raw: isMap(node(p.value)) ? undefined : scalarText(p.value, doc, (x, what) => fail(scope.line(x), `${k}: ${what}`)) });
  }
  const str = (k: string, choices?: readonly string[]): string | undefined => {
    const o = opts.get(k);
    if (!o) return undefined;
    if (typeof o.raw !== 'string' && typeof o.raw !== 'number') fail(o.line, `options.${k} must be a string, got ${JSON.stringify(o.raw)}`);
    const v = String(o.raw);
    if (choices && !choices.includes(v)) fail(o.line, `options.${k} must be one of ${choices.join(', ')}, got '${v}'`);
    return v;
  };
  const line = (k: string) => opts.get(k)?.line ?? scope.line(top.get('options')!.key);

  const layerType = str('layer_type', ['base', 'ansible']);
  if (!layerType) fail(scope.line(top.get('options')!.key), 'options.layer_type is required (base or ansible), as image-build requires it');
  const name = str('name') ?? 'base';
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name)) fail(line('name'), `options.name '${name}' is not an image name (lower-case letters, digits, . _ -)`);

  // Tags: a string or a list (default latest, as image-build).
  const tagsRaw = opts.get('publish_tags')?.raw ?? ['latest'];
  const tags = ([] as unknown[]).concat(tagsRaw).map(String);
  set('tag', tags, line('publish_tags'));
  set('ociRef', `localhost/${name}:${tags[0]}`, line('name'));
  set('agent', false, line('layer_type'));
  set('distroRepos', false, line('layer_type'));

  const pkgManager = str('pkg_manager', ['dnf', 'zypper']);
  if (layerType === 'base' && !pkgManager) fail(line('layer_type'), "options.pkg_manager is required for a base layer (dnf or zypper), as image-build requires it");
  if (pkgManager) set('distro', pkgManager === 'dnf' ? 'rocky' : 'opensuse', line('pkg_manager'));

  const parent = str('parent') ?? 'scratch';
  if (parent !== 'scratch') set('parent', imageBuildParent(parent), line('parent'));
  if (layerType === 'ansible' && parent === 'scratch') fail(line('layer_type'), 'an ansible layer needs a parent image to run the playbooks on', 'set options.parent to the base image (what publish_local or publish_registry left)');

  for (const [k, key] of [['publish_local', 'publishLocal'], ['gpgcheck', 'gpgcheck']] as const) {
    const o = opts.get(k);
    if (o) set(key, o.raw, o.line, `options.${k}`);
  }
  const registry = str('publish_registry');
  if (registry) set('publishRegistry', `${registry.replace(/\/+$/, '')}/${name}`, line('publish_registry'));
  const s3 = str('publish_s3');
  if (s3) {
    set('publishS3', s3, line('publish_s3'));
    set('s3Layout', 'image-build', line('publish_s3'));
    set('s3Artifacts', ['squashfs', 'kernel', 'initrd'], line('publish_s3'));
    set('s3Bucket', str('s3_bucket') ?? 'boot-images', line('s3_bucket'));
    const prefix = str('s3_prefix');
    if (prefix !== undefined) set('s3Prefix', prefix, line('s3_prefix'));
  } else {
    for (const k of ['s3_prefix', 's3_bucket']) if (opts.has(k)) str(k); // still checked for form
  }
  const proxy = str('proxy');
  if (proxy) {
    if (!/^https?:\/\/[^/]+/.test(proxy)) fail(line('proxy'), `options.proxy must be an http(s) URL, got '${proxy}'`);
    set('proxy', proxy, line('proxy'));
  }
  registryOpts(opts, scope, set);

  // Ansible layers: their own keys, refused on a base layer (image-build would not read them there).
  for (const k of ANSIBLE_ONLY) if (opts.has(k) && layerType !== 'ansible') fail(line(k), `options.${k} is read only for layer_type: ansible`, 'remove it, or set layer_type: ansible');
  if (layerType === 'ansible') {
    const list = (k: string): string[] => {
      const raw = opts.get(k)?.raw;
      if (raw === undefined) return [];
      if (!(typeof raw === 'string' || (Array.isArray(raw) && raw.every((x) => typeof x === 'string')))) fail(line(k), `options.${k} must be a string or a list of strings, got ${JSON.stringify(raw)}`);
      return ([] as string[]).concat(raw as string | string[]);
    };
    const playbooks = list('playbooks');
    if (!playbooks.length) fail(line('layer_type'), 'an ansible layer needs options.playbooks');
    set('ansiblePlaybook', playbooks, line('playbooks'));
    set('ansibleInventory', list('inventory'), line('inventory'));
    set('ansibleGroup', list('groups'), line('groups'));
    if (opts.has('ansible_verbosity')) set('ansibleVerbosity', opts.get('ansible_verbosity')!.raw, line('ansible_verbosity'), 'options.ansible_verbosity');
    if (opts.has('vars')) lists.set('ansibleVars', { value: parseVars(node(opts.get('vars')!.pair.value), scope, 'options.vars'), line: line('vars') });
  }

  // The top-level lists, in image-build's order.
  const top_ = (k: string) => top.get(k);
  const listOf = (k: string): string[] => {
    const p = top_(k);
    if (!p) return [];
    const v = scalarText(p.value, doc, (x, what) => fail(scope.line(x), `${k}: ${what}`));
    if (v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' || typeof x === 'number')) fail(scope.line(p.key), `${k} must be a list of names, got ${JSON.stringify(v)}`);
    return (v as unknown[]).map(String);
  };
  let repos: RepoSpec[] = [];
  if (top_('repos')) {
    repos = parseRepoList(node(top_('repos')!.value), scope);
    lists.set('repos', { value: repos, line: scope.line(top_('repos')!.key) });
  }
  if (top_('modules')) lists.set('modules', { value: parseModules(node(top_('modules')!.value), scope), line: scope.line(top_('modules')!.key) });
  const groups = listOf('package_groups');
  if (top_('package_groups')) set('packageGroups', groups, scope.line(top_('package_groups')!.key));
  const packages = listOf('packages');
  // install_scap: the packages image-build installs for it (src/oscap.py).
  const installScap = opts.get('install_scap');
  if (installScap) checkType(settingByKey.get('scapFail')!, installScap.raw, (what) => fail(installScap.line, `options.install_scap ${what}`));
  const scapPackages = installScap && /^(true|yes|1|on|y)$/i.test(String(installScap.raw)) ? ['openscap-utils', 'scap-security-guide', 'bzip2'] : [];
  if (top_('packages') || scapPackages.length) set('extraPkgs', [...packages, ...scapPackages], top_('packages') ? scope.line(top_('packages')!.key) : installScap!.line);
  if (top_('remove_packages')) set('removePackages', listOf('remove_packages'), scope.line(top_('remove_packages')!.key));
  if (top_('copyfiles')) lists.set('copyfiles', { value: parseCopyfiles(node(top_('copyfiles')!.value), scope), line: scope.line(top_('copyfiles')!.key) });
  if (top_('cmds')) lists.set('cmds', { value: parseCmds(node(top_('cmds')!.value), scope), line: scope.line(top_('cmds')!.key) });
  if (layerType === 'ansible') {
    for (const k of ['repos', 'modules', 'package_groups', 'packages', 'remove_packages', 'copyfiles', 'cmds']) {
      if (top_(k)) fail(scope.line(top_(k)!.key), `${k} is not read for layer_type: ansible (image-build runs only the playbooks on an ansible layer)`, 'move it to the base layer, or do it in the playbook');
    }
  }
  openscap(top_('openscap'), opts, scope, node, set, line);

  // The labels image-build sets (src/publish.py), then the user's own.
  const labels: string[] = [
    `org.openchami.image.name=${name}`,
    `org.openchami.image.type=${layerType}`,
    `org.openchami.image.parent=${parent}`,
    ...(pkgManager ? [`org.openchami.image.package-manager=${pkgManager}`] : []),
    `org.openchami.image.tags=${tags.join(',')}`,
    ...(top_('repos') ? [`org.openchami.image.repositories=${repos.map((r) => r.alias ?? r.url).join(',')}`] : []),
    ...(top_('packages') ? [`org.openchami.image.packages=${packages.join(',')}`] : []),
    ...(top_('package_groups') ? [`org.openchami.image.package-groups=${groups.join(',')}`] : []),
  ];
  const userLabels = opts.get('labels');
  if (userLabels) {
    const m = node(userLabels.pair.value);
    if (!isMap(m)) return fail(userLabels.line, 'options.labels must be a mapping of label names to values');
    for (const p of m.items as Pair<Node, Node>[]) {
      const v = scalarText(p.value, doc, (x, what) => fail(scope.line(x), `labels: ${what}`));
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') fail(scope.line(p.key), `label ${keyOf(p)} must have a string value, got ${JSON.stringify(v)}`);
      labels.push(`${keyOf(p)}=${String(v)}`);
    }
  }
  set('label', labels, userLabels?.line ?? line('name'));
  return { display: scope.display, dir: scope.base, values, lists, format: 'image-build' };
}

/** registry_opts_push / registry_opts_pull: the buildah flags osb has an equal for; the rest refused. */
function registryOpts(opts: Map<string, { line: number; raw: unknown }>, scope: YamlScope, set: (key: string, raw: unknown, line: number) => void): void {
  const seen = new Map<string, { value: unknown; where: string }>();
  for (const k of ['registry_opts_push', 'registry_opts_pull']) {
    const o = opts.get(k);
    if (!o) continue;
    const raw = o.raw;
    if (!(typeof raw === 'string' || (Array.isArray(raw) && raw.every((x) => typeof x === 'string')))) scope.fail(o.line, `options.${k} must be a list of buildah flags, got ${JSON.stringify(raw)}`);
    const words = ([] as string[]).concat(raw as string | string[]).flatMap((w) => w.split(/\s+/).filter(Boolean));
    const put = (key: string, value: unknown) => {
      const before = seen.get(key);
      if (before && JSON.stringify(before.value) !== JSON.stringify(value)) scope.fail(o.line, `options.${k} sets ${key} to ${JSON.stringify(value)}, but ${before.where} set it to ${JSON.stringify(before.value)}`, 'osb pushes and pulls with one set of registry options: make them agree');
      seen.set(key, { value, where: `options.${k}` });
      set(key, value, o.line);
    };
    for (let i = 0; i < words.length; i++) {
      const m = /^--([a-z-]+)(?:=(.*))?$/.exec(words[i]!);
      const flag = m?.[1];
      const value = () => m![2] ?? words[++i] ?? scope.fail(o.line, `options.${k}: --${flag} needs a value`);
      if (flag === 'tls-verify') {
        const v = m![2] ?? 'true';
        if (!/^(true|false)$/.test(v)) scope.fail(o.line, `options.${k}: --tls-verify takes true or false, got '${v}'`);
        put('insecureRegistry', v === 'false');
      } else if (flag === 'authfile') {
        put('registryAuthFile', resolve(scope.base, value()));
      } else if (flag === 'cert-dir') {
        put('registryCa', resolve(scope.base, value(), 'ca.crt'));
      } else if (flag === 'creds') {
        scope.fail(o.line, `options.${k}: --creds puts a password in the config file; osb does not read credentials from files it may record`, 'give OSB_REGISTRY_CREDS=USER:PASSWORD in the environment, or an auth file with --authfile');
      } else {
        scope.fail(o.line, `options.${k}: '${words[i]}' is not handled (osb takes --tls-verify, --authfile, --cert-dir)`, 'remove it; osb publish --help lists the registry options');
      }
    }
  }
}

/** `openscap:` entries (profile, benchmark_path, oval_url) with scap_benchmark / oval_eval. */
function openscap(
  pair: Pair<Node, Node> | undefined,
  opts: Map<string, { line: number; raw: unknown }>,
  scope: YamlScope,
  node: (n: Node | null | undefined) => Node | null | undefined,
  set: (key: string, raw: unknown, line: number) => void,
  line: (k: string) => number,
): void {
  const cfg: Record<string, { value: string; line: number }> = {};
  if (pair) {
    const n = node(pair.value);
    // image-build: a list of one-key mappings (each merged in order); a plain mapping reads the same.
    const items = isSeq(n) ? (n.items as Node[]) : isMap(n) ? [n] : scope.fail(scope.line(pair.key), 'openscap must be a list of {profile}, {benchmark_path}, {oval_url} entries');
    for (const item of items) {
      const m = node(item);
      if (!isMap(m)) return scope.fail(scope.line(item), 'each openscap entry must be a mapping (profile, benchmark_path, oval_url)');
      for (const p of m.items as Pair<Node, Node>[]) {
        const k = String(isScalar(p.key) ? p.key.value : p.key);
        const l = scope.line(p.key);
        if (['results_path', 'remediate_path', 'oval_xml', 'oval_path'].includes(k)) scope.fail(l, `openscap ${k}: osb writes the results beside the rootfs (WORKDIR/openscap.*), not into the image`, 'remove it');
        if (!['profile', 'benchmark_path', 'oval_url'].includes(k)) {
          const near = suggest(k, ['profile', 'benchmark_path', 'oval_url']);
          scope.fail(l, `unknown openscap key '${k}'${near ? `; did you mean '${near}'?` : ''}`);
        }
        const v = isScalar(p.value) ? p.value.value : undefined;
        if (typeof v !== 'string' || !v) scope.fail(l, `openscap ${k} must be a string`);
        cfg[k] = { value: v as string, line: l };
      }
    }
  }
  const on = (k: string) => {
    const o = opts.get(k);
    if (!o) return false;
    checkType(settingByKey.get('scapFail')!, o.raw, (what) => scope.fail(o.line, `options.${k} ${what}`));
    return /^(true|yes|1|on|y)$/i.test(String(o.raw));
  };
  if (on('scap_benchmark')) {
    if (!cfg.benchmark_path) scope.fail(line('scap_benchmark'), 'scap_benchmark needs openscap: - benchmark_path: <the data stream>', 'e.g. /usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml from Debian\'s ssg-debian');
    set('scapDatastream', resolve(scope.base, cfg.benchmark_path!.value), cfg.benchmark_path!.line);
    if (cfg.profile) set('scapProfile', cfg.profile.value, cfg.profile.line);
  } else if (cfg.benchmark_path || cfg.profile) {
    scope.fail((cfg.benchmark_path ?? cfg.profile)!.line, 'openscap benchmark_path/profile are read only with options.scap_benchmark: true', 'set scap_benchmark: true, or remove them');
  }
  if (on('oval_eval')) {
    if (!cfg.oval_url) scope.fail(line('oval_eval'), 'oval_eval needs openscap: - oval_url: <OVAL definitions URL or file>');
    set('ovalDefinitions', /^https?:\/\//.test(cfg.oval_url!.value) ? cfg.oval_url!.value : resolve(scope.base, cfg.oval_url!.value), cfg.oval_url!.line);
  } else if (cfg.oval_url) {
    scope.fail(cfg.oval_url.line, 'openscap oval_url is read only with options.oval_eval: true', 'set oval_eval: true, or remove it');
  }
}

