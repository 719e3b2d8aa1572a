/**
 * openscap: a root filesystem tree scanned with OpenSCAP from the host, as OpenCHAMI's image-build
 * scans its images, with Debian's oscap and the SCAP Security Guide's data streams.
 *
 *   check tree, data stream, profile (oscap info) → oscap xccdf eval on the tree → read the ARF
 *   back → [oscap oval eval on the tree] → rename the results into place → verdict
 *
 * oscap-chroot (openscap-utils) is a shell wrapper that sets OSCAP_PROBE_ROOT=TREE and
 * OSCAP_EVALUATION_TARGET=chroot://TREE and runs oscap as its child: the probes then read the
 * tree's files, not the host's. The scan runs `env OSCAP_PROBE_ROOT=TREE ... oscap ...` itself
 * (env execs oscap: one process, and a command that can be pasted), because the wrapper does not
 * pass signals on: an interrupt kills the shell and leaves oscap running, and it writes its
 * results a few seconds later. Two things the wrapper does not do either:
 *
 * - The dpkginfo probe (package installed or not) opens the tree's dpkg database with libapt,
 *   which reads the *host's* apt configuration and writes its package cache into the tree
 *   (TREE/var/cache/apt/pkgcache.bin; on a host whose apt.conf.d empties Dir::Cache::pkgcache, as
 *   Docker's Debian images do, a 1.6 MB `.XXXXXX` temporary at the tree's root for every probe
 *   run, and the probe fails: every "package installed" rule then reads fail and every "package
 *   removed" rule pass, whatever the tree holds). A scan runs with APT_CONFIG pointing at a file
 *   of its own that skips the host's configuration and puts the cache where it cannot be written,
 *   so libapt builds it in memory and the tree is left as it was.
 * - Some probes cannot run offline at all (sysctl reads the running kernel): oscap warns, and the
 *   rules that need them fail. The scan says which probes these were.
 *
 * oscap's exit status: 0 every selected rule passed (or none applied), 2 at least one rule failed
 * (or could not be decided), 1 an error. Only 1 is a failure of the tool.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { access, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename as baseName, delimiter, join, resolve } from 'node:path';
import { resolveInTree } from '../lib/bootable.js';
import { ensureWritableDir, removeStaleTemps, tmpPathFor } from '../lib/atomic.js';
import { withCleanup } from '../lib/cleanup.js';
import type { BuildContext } from '../lib/context.js';
import { CommandError, InterruptedError, OsbError } from '../lib/errors.js';
import type { RunResult } from '../lib/run.js';
import type { ToolInfo } from '../lib/tools.js';
import { benchmarkPlatforms, countOvalDefinitions, countRules, documentType, fewOf, offlineProbe, parseProfiles, parseTestResults, resolveProfile } from './arf.js';
import { SSG_CONTENT } from './datastream.js';

export { defaultDatastream, ssgProduct, SSG_CONTENT } from './datastream.js';
export { parseTestResults, countRules, parseProfiles, resolveProfile, countOvalDefinitions, benchmarkPlatforms, type RuleResult, type RuleOutcome, type TestResult, type RuleCounts, type ProfileInfo } from './arf.js';

export interface ScapOptions {
  /** The root filesystem to scan (a directory). It is only read. */
  readonly tree: string;
  /** SCAP source data stream (XCCDF benchmark), a host path, e.g. /usr/share/xml/scap/ssg/content/ssg-debian11-ds.xml. */
  readonly datastream: string;
  /**
   * XCCDF profile id, e.g. xccdf_org.ssgproject.content_profile_standard, or its last part
   * (`standard`). Absent: the data stream's default profile (in SSG content it selects no rule).
   */
  readonly profile?: string;
  /** Where the results go: DIR/<basename>.arf.xml (ARF results) and DIR/<basename>.html (report). Created if missing. */
  readonly outDir: string;
  /** @default 'openscap' */
  readonly basename?: string;
  /**
   * Throw an OsbError naming the failed rules (a few ids and the count) when a rule fails (or could
   * not be decided: error, unknown), or when no rule was evaluated at all. The results are
   * written first: the report says why.
   * @default false (report only)
   */
  readonly failOnRule?: boolean;
  /** Optional OVAL definitions file (host path) to evaluate too: DIR/<basename>-oval.xml results + DIR/<basename>-oval.html. */
  readonly oval?: string;
}

export interface ScapResult {
  arf: string;
  html: string;
  /** Rules that passed (pass, fixed). */
  pass: number;
  fail: number;
  /** The rule ids that failed, in the order of the results. */
  failed: string[];
  notApplicable: number;
  ovalResults?: string;
  ovalHtml?: string;
}

/** The host tools a scan runs, for check-deps. */
export function scapHostTools(): string[] {
  return ['oscap'];
}

/** The packages of scapHostTools(), in the shape of lib/tools.ts's table. */
export const SCAP_TOOLS: Readonly<Record<string, ToolInfo>> = {
  oscap: { debian: 'openscap-scanner', fedora: 'openscap-scanner', alpine: 'n/a', min: '1.3.0', versionArg: '--version' },
};

/** The packages with the data streams, for a hint. */
const SSG_PACKAGES = 'ssg-debian ssg-debderived ssg-nondebian';

/**
 * The apt configuration the dpkginfo probe reads (APT_CONFIG): none of the host's files, and a
 * package cache under a directory that does not exist in the tree, so that libapt keeps its cache
 * in memory instead of writing it into the tree. libapt puts RootDir (the tree) before every path.
 */
const APT_CONFIG = [
  '// Written by osb for the OpenSCAP dpkginfo probe: read the tree, write nothing into it.',
  'Dir::Etc::main "/nonexistent-osb-scan/apt.conf";',
  'Dir::Etc::parts "/nonexistent-osb-scan/apt.conf.d";',
  'Dir::Cache::pkgcache "/nonexistent-osb-scan/pkgcache.bin";',
  'Dir::Cache::srcpkgcache "/nonexistent-osb-scan/srcpkgcache.bin";',
  '',
].join('\n');

/** Scan `o.tree` with oscap; the results appear under their final names only when complete. */
export async function scanTree(ctx: BuildContext, o: ScapOptions): Promise<ScapResult> {
  const tree = resolve(o.tree);
  const datastream = resolve(o.datastream);
  const oval = o.oval === undefined ? undefined : resolve(o.oval);
  const outDir = resolve(o.outDir);
  const base = o.basename ?? 'openscap';
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/.test(base)) {
    throw new OsbError(`scan results basename '${base}' is not a plain file name`, 'use letters, digits, dot, dash or underscore, e.g. openscap');
  }
  const out = {
    arf: join(outDir, `${base}.arf.xml`),
    html: join(outDir, `${base}.html`),
    ovalResults: join(outDir, `${base}-oval.xml`),
    ovalHtml: join(outDir, `${base}-oval.html`),
  };
  const result = (r: Partial<ScapResult> = {}): ScapResult => ({
    arf: out.arf, html: out.html, pass: 0, fail: 0, failed: [], notApplicable: 0,
    ...(oval ? { ovalResults: out.ovalResults, ovalHtml: out.ovalHtml } : {}),
    ...r,
  });

  if (ctx.dryRun && !existsSync(tree)) {
    // The tree is built earlier in the same plan.
    ctx.log.info(`would scan ${tree} once it is built with ${datastream}${o.profile ? `, profile ${o.profile}` : ''}, writing ${out.arf} and ${out.html}`);
    return result();
  }
  await checkTree(tree);
  await checkFile(datastream, 'SCAP data stream', `install the data streams (apt-get install ${SSG_PACKAGES}); they are in ${SSG_CONTENT}`);
  if (oval) await checkFile(oval, 'OVAL definitions file', 'give the path of an OVAL definitions file, or leave oval out');
  if (!ctx.dryRun) for (const tool of scapHostTools()) assertTool(tool);

  const profile = await checkProfile(ctx, datastream, o.profile);
  const stage = tmpPathFor(join(outDir, base), '.osb-stage-');
  const staged = {
    arf: join(stage, baseName(out.arf)),
    html: join(stage, baseName(out.html)),
    ovalResults: join(stage, baseName(out.ovalResults)),
    ovalHtml: join(stage, baseName(out.ovalHtml)),
    aptConfig: join(stage, 'apt.conf'),
  };
  // What oscap-chroot sets, and the apt configuration the dpkginfo probe reads.
  const env = ['env', `OSCAP_PROBE_ROOT=${tree}`, `OSCAP_EVALUATION_TARGET=chroot://${tree}`, `APT_CONFIG=${staged.aptConfig}`];
  const evalArgv = [...env, 'oscap', 'xccdf', 'eval', ...(profile ? ['--profile', profile] : []), '--results-arf', staged.arf, '--report', staged.html, datastream];
  const ovalArgv = oval ? [...env, 'oscap', 'oval', 'eval', '--results', staged.ovalResults, '--report', staged.ovalHtml, oval] : undefined;
  if (ctx.dryRun) {
    await ctx.run(evalArgv);
    if (ovalArgv) await ctx.run(ovalArgv);
    ctx.log.info(`would write ${out.arf} and ${out.html}${oval ? `, ${out.ovalResults} and ${out.ovalHtml}` : ''}`);
    return result();
  }

  await ensureWritableDir(outDir, 'scan output directory');
  await removeStaleTemps(join(outDir, base));
  const offline = new Set<string>();
  const onLine = (line: string) => {
    const p = offlineProbe(line);
    if (p) offline.add(p);
  };

  const verdict = await withCleanup(() => rm(stage, { recursive: true, force: true }), async () => {
    await mkdir(stage);
    await writeFile(staged.aptConfig, APT_CONFIG);
    ctx.log.info(`openscap: scanning ${tree} with ${baseName(datastream)}, profile ${profile ?? '(the default)'}`);
    // The per-rule lines oscap prints go to the ARF; the log keeps its warnings.
    const r = await oscap(ctx, evalArgv, { onLine, quiet: true });
    if (r.exitCode !== 0 && r.exitCode !== 2) throw toolFailed(ctx, evalArgv, r);

    const arfXml = await readBack(staged.arf, 'ARF results');
    await readBack(staged.html, 'HTML report');
    const results = parseResultsOrThrow(arfXml);
    if (profile && results.profile !== profile) {
      throw new OsbError(`oscap evaluated profile ${results.profile ?? '(default)'} instead of ${profile}`, `see ${staged.arf}`);
    }
    const counts = countRules(results.rules);
    let ovalSummary = '';
    if (ovalArgv) {
      const ro = await oscap(ctx, ovalArgv, { onLine, quiet: true });
      if (ro.exitCode !== 0) throw toolFailed(ctx, ovalArgv, ro);
      const defs = countOvalDefinitions(await readBack(staged.ovalResults, 'OVAL results'));
      await readBack(staged.ovalHtml, 'OVAL report');
      ovalSummary = `; OVAL ${baseName(oval!)}: ${defs.definitions} definitions (${Object.entries(defs.byResult).map(([k, v]) => `${v} ${k}`).join(', ')})`;
    }
    checkpoint(ctx);
    // The report first and the ARF last: an ARF under its final name means the set is complete.
    await rename(staged.html, out.html);
    if (oval) {
      await rename(staged.ovalHtml, out.ovalHtml);
      await rename(staged.ovalResults, out.ovalResults);
    }
    await rename(staged.arf, out.arf);
    return { counts, platforms: benchmarkPlatforms(arfXml), ovalSummary };
  });

  const { counts, platforms, ovalSummary } = verdict;
  ctx.log.info(
    `openscap: ${counts.pass} pass, ${counts.fail} fail, ${counts.notApplicable} not applicable${counts.notChecked ? `, ${counts.notChecked} not checked` : ''}${counts.undecided ? `, ${counts.undecided} error or unknown` : ''} → ${out.html}${ovalSummary}`,
  );
  if (offline.size > 0) {
    ctx.log.warn(`openscap: oscap cannot run the ${[...offline].sort().join(', ')} probe${offline.size > 1 ? 's' : ''} against a tree (${offline.has('sysctl') ? 'sysctl reads the running kernel' : 'they read the running system'}): the rules that use them fail whatever the image holds`);
  }
  if (counts.undecided > 0) ctx.log.warn(`openscap: ${counts.undecided} rules could not be decided (error or unknown): ${fewOf(counts.undecidedRules)}`);
  const res = result({ pass: counts.pass, fail: counts.fail, failed: [...counts.failed], notApplicable: counts.notApplicable });

  if (counts.evaluated === 0 && counts.undecided === 0) {
    const parts: string[] = [];
    if (counts.notApplicable) parts.push(`${counts.notApplicable} not applicable to this tree${platforms.length ? ` (the benchmark is for ${platforms.join(', ')}; the tree is ${osRelease(tree)})` : ''}`);
    if (counts.notChecked) parts.push(`${counts.notChecked} not checked (oscap has no check it can run for them)`);
    const why = parts.length ? `of the selected rules, ${parts.join(', ')}` : `the profile selects none of its ${counts.notSelected} rules`;
    const hint = counts.notApplicable ? "scan with the data stream of the tree's release" : parts.length ? 'see the report' : 'choose a profile (oscap info --profiles DS lists them)';
    if (o.failOnRule) throw new OsbError(`openscap: no rule was evaluated: ${why}`, `${hint}; the report is ${out.html}`);
    ctx.log.warn(`openscap: no rule was evaluated: ${why}; ${hint}`);
  }
  if (o.failOnRule && counts.fail > 0) {
    throw new OsbError(
      `openscap: ${counts.fail} rule${counts.fail > 1 ? 's' : ''} failed in ${profile ?? 'the default profile'}: ${fewOf(counts.failed)}`,
      `see the report ${out.html}; fix the tree, or tailor the profile (oscap xccdf eval --tailoring-file)`,
    );
  }
  // oscap itself counts these with the failures (exit 2): a gate does not pass what it could not check.
  if (o.failOnRule && counts.undecided > 0) {
    throw new OsbError(`openscap: ${counts.undecided} rule${counts.undecided > 1 ? 's' : ''} could not be decided (error or unknown): ${fewOf(counts.undecidedRules)}`, `see the report ${out.html}`);
  }
  return res;
}

function checkpoint(ctx: BuildContext): void {
  if (ctx.signal?.aborted) throw new InterruptedError();
}

/** Run an oscap command, returning 0, 2 (and 1) instead of throwing; an interrupt is an interrupt. */
async function oscap(ctx: BuildContext, argv: readonly string[], opts: { onLine: (l: string) => void; quiet: boolean }): Promise<RunResult> {
  try {
    const r = await ctx.run(argv, { ...opts, allowFail: true });
    checkpoint(ctx);
    return r;
  } catch (e) {
    if (ctx.signal?.aborted) throw new InterruptedError();
    throw e;
  }
}

function toolFailed(ctx: BuildContext, argv: readonly string[], r: RunResult): CommandError {
  const tail = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim()).slice(-20);
  const why = tail.filter((l) => /error/i.test(l)).pop();
  const log = ctx.run.logPath ? `full output in ${ctx.run.logPath}` : undefined;
  return new CommandError({ argv, code: r.exitCode, tail, logPath: ctx.run.logPath, hint: [why?.trim(), log].filter(Boolean).join('; ') || undefined });
}

async function checkTree(tree: string): Promise<void> {
  let st;
  try {
    st = await stat(tree);
  } catch {
    throw new OsbError(`the tree to scan, ${tree}, does not exist`, 'build the rootfs first, or give the path of a root filesystem directory');
  }
  if (!st.isDirectory()) throw new OsbError(`the tree to scan, ${tree}, is not a directory`, 'give the path of a root filesystem directory (unpack an image or archive first)');
}

async function checkFile(path: string, what: string, hint: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new OsbError(`${what} ${path} does not exist`, hint);
  }
  if (!st.isFile()) throw new OsbError(`${what} ${path} is not a file`, hint);
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new OsbError(`${what} ${path} is not readable`, 'fix its permissions');
  }
}

/** The profile id to pass to oscap (the default: undefined), checked against the data stream's list. */
async function checkProfile(ctx: BuildContext, datastream: string, asked: string | undefined): Promise<string | undefined> {
  if (ctx.dryRun && !onPath('oscap')) {
    ctx.log.warn('oscap is not installed: the profile is not checked');
    return asked;
  }
  const info = await ctx.run(['oscap', 'info', '--profiles', datastream], { readOnly: true, allowFail: true, quiet: true });
  if (info.exitCode !== 0) {
    throw new OsbError(`${datastream} is not a SCAP document oscap can read: ${(info.stderr.trim().split('\n').pop() ?? '').replace(/^OpenSCAP Error:\s*/, '')}`, `give a source data stream, e.g. one in ${SSG_CONTENT}`);
  }
  const profiles = parseProfiles(info.stdout);
  const type = documentType(info.stdout);
  if (profiles.length === 0 && type && !/XCCDF|Data Stream/i.test(type)) {
    throw new OsbError(`${datastream} is ${/^[AEIOU]/i.test(type) ? 'an' : 'a'} ${type} document, not an XCCDF data stream`, /OVAL/i.test(type) ? 'pass an OVAL definitions file as oval, and an XCCDF data stream as datastream' : `give a source data stream, e.g. one in ${SSG_CONTENT}`);
  }
  if (asked === undefined) return undefined;
  const m = resolveProfile(asked, profiles);
  if ('id' in m) return m.id;
  const ids = m.candidates;
  if (m.error === 'ambiguous') throw new OsbError(`profile '${asked}' matches ${ids.length} profiles in ${baseName(datastream)}: ${fewOf(ids)}`, 'give the full profile id');
  throw new OsbError(
    ids.length ? `unknown profile '${asked}' in ${baseName(datastream)}; it has ${ids.length}: ${fewOf(ids)}` : `unknown profile '${asked}': ${baseName(datastream)} has no profiles`,
    `oscap info --profiles ${datastream} lists them`,
  );
}

function parseResultsOrThrow(xml: string) {
  let results;
  try {
    results = parseTestResults(xml);
  } catch (e) {
    throw new OsbError(`oscap's ARF results cannot be read: ${(e as Error).message}`, 'run the scan again; if it happens again, report it with the ARF');
  }
  if (results.length === 0) throw new OsbError('oscap wrote ARF results without a TestResult', 'run the scan again; if it happens again, report it with the ARF');
  return results[0]!;
}

/** Read back a file oscap wrote: it must be there and not empty. */
async function readBack(path: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new OsbError(`oscap did not write its ${what}`, 'see the scan log');
  }
  if (text.trim().length === 0) throw new OsbError(`oscap wrote an empty ${what}`, 'see the scan log');
  return text;
}

/** The tree's PRETTY_NAME, or what is known about it. */
function osRelease(tree: string): string {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      // As the guest sees it: Debian's /etc/os-release is a link, and a parent's may point anywhere on the host.
      const file = resolveInTree(tree, p);
      if (!file?.stats.isFile()) continue;
      const m = /^PRETTY_NAME=["']?([^"'\n]*)/m.exec(readFileSync(file.path, 'utf8'));
      if (m) return m[1]!;
    } catch {
      // try the next
    }
  }
  return 'of unknown release (no os-release)';
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => {
    if (!d) return false;
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A missing oscap, in lib/tools.ts's words (that table does not list it). */
function assertTool(tool: string): void {
  if (onPath(tool)) return;
  const info = SCAP_TOOLS[tool]!;
  throw new OsbError(
    `${tool} not found; it is in package ${info.debian} (Debian/Ubuntu), ${info.fedora} (Fedora), ${info.alpine} (Alpine)`,
    'apt-get install openscap-scanner (Debian/Ubuntu), dnf install openscap-scanner (Fedora)',
  );
}
