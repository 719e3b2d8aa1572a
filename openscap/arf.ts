/**
 * Reading what oscap writes, without an XML library: the TestResult of an ARF (XCCDF 1.2 results
 * inside an Asset Reporting Format collection), the profile list of `oscap info --profiles`, the
 * definition results of an OVAL results file, and the probes oscap says it could not run against
 * a tree. The documents are oscap's own output, so a small reader of the few elements needed is
 * enough; anything it does not recognise is reported, not guessed.
 */

/** The XCCDF 1.2 result values (XCCDF 1.2 §6.6.4.2). */
export type RuleOutcome = 'pass' | 'fail' | 'error' | 'unknown' | 'notapplicable' | 'notchecked' | 'notselected' | 'informational' | 'fixed';
const OUTCOMES: ReadonlySet<string> = new Set(['pass', 'fail', 'error', 'unknown', 'notapplicable', 'notchecked', 'notselected', 'informational', 'fixed']);

export interface RuleResult {
  readonly rule: string;
  readonly result: RuleOutcome;
}

export interface TestResult {
  /** The TestResult's id attribute. */
  readonly id: string;
  /** The profile evaluated (its idref), absent for the data stream's default. */
  readonly profile: string | undefined;
  /** The benchmark's id, from the TestResult's <benchmark> element. */
  readonly benchmark: string | undefined;
  readonly rules: readonly RuleResult[];
}

export interface RuleCounts {
  /** pass and fixed. */
  readonly pass: number;
  readonly fail: number;
  readonly notApplicable: number;
  readonly notSelected: number;
  /** notchecked: the rule has no check oscap can run (OCIL only, or a reference it cannot resolve). */
  readonly notChecked: number;
  /** error and unknown: the check could not decide. */
  readonly undecided: number;
  /** The rule ids of each kind, in document order. */
  readonly failed: readonly string[];
  readonly undecidedRules: readonly string[];
  /** Rules that were checked and decided (pass, fixed, fail). */
  readonly evaluated: number;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#\d+);/g, (_, e: string) =>
    e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(Number(e.slice(1))) : ENTITIES[e]!,
  );
}

/** The value of attribute `name` in an element's attribute text, unescaped. */
function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return m ? unescapeXml(m[1] ?? m[2]!) : undefined;
}

/** An element name with any namespace prefix: `TestResult`, `xccdf:TestResult`. */
const el = (local: string) => `(?:[A-Za-z_][\\w.-]*:)?${local}`;

/**
 * The TestResult elements of an ARF or of an XCCDF results file, in document order. oscap writes
 * one per evaluation; the source data stream it embeds holds rules but no rule-results.
 */
export function parseTestResults(xml: string): TestResult[] {
  const out: TestResult[] = [];
  const open = new RegExp(`<(${el('TestResult')})\\b([^>]*)>`, 'g');
  let m: RegExpExecArray | null;
  while ((m = open.exec(xml))) {
    const name = m[1]!;
    const end = xml.indexOf(`</${name}>`, open.lastIndex);
    if (end < 0) throw new Error(`unterminated <${name}> in the results`);
    const body = xml.slice(open.lastIndex, end);
    open.lastIndex = end;
    const profile = new RegExp(`<${el('profile')}\\b([^>]*?)/?>`).exec(body);
    const benchmark = new RegExp(`<${el('benchmark')}\\b([^>]*?)/?>`).exec(body);
    const rules: RuleResult[] = [];
    const rr = new RegExp(`<(${el('rule-result')})\\b([^>]*)>([\\s\\S]*?)</\\1>`, 'g');
    let r: RegExpExecArray | null;
    while ((r = rr.exec(body))) {
      const rule = attr(r[2]!, 'idref');
      const res = new RegExp(`<${el('result')}>\\s*([a-z]+)\\s*</${el('result')}>`).exec(r[3]!);
      if (!rule || !res) throw new Error(`a rule-result without ${rule ? 'a result' : 'an idref'} in the results`);
      if (!OUTCOMES.has(res[1]!)) throw new Error(`rule ${rule}: unknown result '${res[1]}'`);
      rules.push({ rule, result: res[1] as RuleOutcome });
    }
    out.push({ id: attr(m[2]!, 'id') ?? '', profile: profile ? attr(profile[1]!, 'idref') : undefined, benchmark: benchmark ? attr(benchmark[1]!, 'id') : undefined, rules });
  }
  return out;
}

/** Pass, fail and the rest, counted from a TestResult's rule results. */
export function countRules(rules: readonly RuleResult[]): RuleCounts {
  const failed: string[] = [];
  const undecidedRules: string[] = [];
  let pass = 0;
  let notApplicable = 0;
  let notSelected = 0;
  let notChecked = 0;
  for (const { rule, result } of rules) {
    if (result === 'pass' || result === 'fixed') pass++;
    else if (result === 'fail') failed.push(rule);
    else if (result === 'error' || result === 'unknown') undecidedRules.push(rule);
    else if (result === 'notapplicable') notApplicable++;
    else if (result === 'notselected') notSelected++;
    else if (result === 'notchecked') notChecked++;
  }
  return { pass, fail: failed.length, notApplicable, notSelected, notChecked, undecided: undecidedRules.length, failed, undecidedRules, evaluated: pass + failed.length };
}

/**
 * The operating-system platforms (CPE names, `cpe:/o:...`) the benchmark in an ARF declares it
 * applies to, from the Benchmark's own <platform> elements (those before its first Profile, Value,
 * Group or Rule): what a tree of another release does not match.
 */
export function benchmarkPlatforms(xml: string): string[] {
  const found = new Set<string>();
  const open = new RegExp(`<${el('Benchmark')}\\b`, 'g');
  const child = new RegExp(`<${el('(?:Profile|Value|Group|Rule)')}\\b`, 'g');
  const platform = new RegExp(`<${el('platform')}\\s[^>]*?idref\\s*=\\s*"(cpe:/o:[^"]+)"`, 'g');
  let b: RegExpExecArray | null;
  while ((b = open.exec(xml))) {
    child.lastIndex = open.lastIndex;
    const stop = child.exec(xml)?.index ?? xml.length;
    const head = xml.slice(open.lastIndex, stop);
    let m: RegExpExecArray | null;
    platform.lastIndex = 0;
    while ((m = platform.exec(head))) found.add(unescapeXml(m[1]!));
  }
  return [...found];
}

export interface ProfileInfo {
  readonly id: string;
  readonly title: string;
}

/**
 * The profiles of `oscap info --profiles DS`: one `ID:TITLE` line each. An OVAL file or another
 * document without profiles prints `Document type: ...` lines instead, and so has none.
 */
export function parseProfiles(stdout: string): ProfileInfo[] {
  const out: ProfileInfo[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^([A-Za-z_][\w.-]*):(.*)$/.exec(line.trim());
    if (m && !/^(Document type|OVAL version|Generated|Imported|Version|Stream|Checklists)$/.test(m[1]!)) out.push({ id: m[1]!, title: m[2]!.trim() });
  }
  return out;
}

/** The document type `oscap info` names (`Source Data Stream`, `XCCDF Checklist`, `OVAL Definitions`). */
export function documentType(stdout: string): string | undefined {
  return /^Document type:\s*(.+)$/m.exec(stdout)?.[1]?.trim();
}

export type ProfileMatch = { readonly id: string } | { readonly error: 'unknown' | 'ambiguous'; readonly candidates: readonly string[] };

/**
 * The profile `asked` names: its exact id, or the one id ending in `_profile_ASKED` (SSG's ids are
 * `xccdf_org.ssgproject.content_profile_NAME`, and `standard` is what people type).
 */
export function resolveProfile(asked: string, profiles: readonly ProfileInfo[]): ProfileMatch {
  const ids = profiles.map((p) => p.id);
  if (ids.includes(asked)) return { id: asked };
  const short = ids.filter((id) => id.endsWith(`_profile_${asked}`));
  if (short.length === 1) return { id: short[0]! };
  return short.length > 1 ? { error: 'ambiguous', candidates: short } : { error: 'unknown', candidates: ids };
}

/** A few items and how many more: `a, b, c (and 18 more)`. */
export function fewOf(items: readonly string[], n = 3): string {
  const shown = items.slice(0, n).join(', ');
  return items.length > n ? `${shown} (and ${items.length - n} more)` : shown;
}

export interface OvalCounts {
  readonly definitions: number;
  /** Definition results by value: true, false, error, unknown, not applicable, not evaluated. */
  readonly byResult: Readonly<Record<string, number>>;
}

/** The definition results of an OVAL results document (`<definition definition_id=".." result="true">`). */
export function countOvalDefinitions(xml: string): OvalCounts {
  const start = xml.search(new RegExp(`<${el('results')}\\b`));
  if (start < 0) throw new Error('no <results> element in the OVAL results');
  const byResult: Record<string, number> = {};
  let definitions = 0;
  const re = new RegExp(`<${el('definition')}\\s([^>]*\\bdefinition_id\\s*=[^>]*)>`, 'g');
  re.lastIndex = start;
  let m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    const result = attr(m[1]!, 'result') ?? 'unknown';
    byResult[result] = (byResult[result] ?? 0) + 1;
    definitions++;
  }
  return { definitions, byResult };
}

/** The probes oscap could not run against a tree: `Requested offline mode is not supported by sysctl probe.` */
export function offlineProbe(line: string): string | undefined {
  return /Requested offline mode is not supported by (\S+) probe/.exec(line)?.[1];
}
