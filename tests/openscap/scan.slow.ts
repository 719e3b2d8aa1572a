/**
 * Scanning real Debian trees with Debian 12's oscap (openscap-scanner, openscap-utils 1.3.7) and
 * SCAP Security Guide content (ssg-debian 0.1.65). That package has no Debian 12 data stream, so
 * the counting and failing scans use a bullseye tree with ssg-debian11-ds.xml's "standard"
 * profile, and debianRootfs()'s bookworm tree shows what a user gets with content for another
 * release: every rule "notapplicable", said as such. The counts are checked against oscap's own
 * reading of the ARF (`oscap xccdf generate report`), not against openscap/arf.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InterruptedError, OsbError } from '../../lib/errors.js';
import { defaultDatastream, scanTree, SSG_CONTENT, type ScapOptions } from '../../openscap/index.js';
import { makeTestContext, recordingReporter, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { debianRootfs } from '../helpers/debian-rootfs.js';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';
import { bullseyeRootfs } from './bullseye-rootfs.js';

const DS11 = join(SSG_CONTENT, 'ssg-debian11-ds.xml');
const STANDARD = 'xccdf_org.ssgproject.content_profile_standard';
const FIXTURES = join(REPO_ROOT, 'tests/fixtures/openscap');
/** bash installed (true), /etc/passwd (true), /etc/osb-scap-marker (false), cron installed (false). */
const OVAL = join(FIXTURES, 'osb-test-oval.xml');

let bullseye: string;
let bookworm: string;
beforeAll(() => {
  if (!existsSync(DS11)) throw new Error(`${DS11} is missing: apt-get install openscap-scanner openscap-utils ssg-debian (see .ci/packages)`);
  // Copies: a scan must not write into a tree, and if it did, the cached trees stay clean.
  const dir = tempDir('osb-scap-trees-');
  bullseye = join(dir, 'bullseye');
  bookworm = join(dir, 'bookworm');
  execFileSync('cp', ['-a', bullseyeRootfs(), bullseye]);
  execFileSync('cp', ['-a', debianRootfs(), bookworm]);
}, 300_000);
afterAll(removeTempDirs);

/** Every path of a tree with its type, mode, size and mtime: what a scan must leave as it was. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(join(root, rel)).sort()) {
      const p = join(rel, n);
      const st = lstatSync(join(root, p));
      out.push(`${p} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('.');
  return out;
}

/** oscap's own reading of an ARF: the rule rows of the report it generates from it. */
function oscapReading(arf: string): { passed: number | undefined; failed: number | undefined; rules: Map<string, string> } {
  const html = execFileSync('oscap', ['xccdf', 'generate', 'report', arf], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const rules = new Map<string, string>();
  for (const m of html.matchAll(/<tr data-tt-id="([^"]+)" class="rule-overview-leaf rule-overview-leaf-([a-z]+)/g)) rules.set(m[1]!, m[2]!);
  // The bar of passed, failed and other rules; a report of no evaluated rule has none.
  const bar = (what: string) => {
    const m = new RegExp(`progress-bar-[a-z]+" style="[^"]*">(\\d+) ${what}`).exec(html);
    return m ? Number(m[1]) : undefined;
  };
  return { passed: bar('passed'), failed: bar('failed'), rules };
}

/** The result the ARF's own text gives a rule: its <rule-result> element, read with a plain search. */
function arfResult(arfText: string, rule: string): string | undefined {
  const at = arfText.indexOf(`<rule-result idref="${rule}"`);
  return at < 0 ? undefined : /<result>([a-z]+)<\/result>/.exec(arfText.slice(at, at + 2000))?.[1];
}

/** Processes whose command line names `path`. */
function processesNaming(path: string): string[] {
  const found: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(path)) found.push(`${p} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function outDirOf(tag: string): string {
  return join(tempDir(`osb-scap-${tag}-`), 'scan');
}

const opts = (o: Partial<ScapOptions> & { outDir: string }): ScapOptions => ({ tree: bullseye, datastream: DS11, profile: STANDARD, ...o });

describe('the standard profile on a bullseye tree', () => {
  let outDir: string;
  let before: string[];
  let result: Awaited<ReturnType<typeof scanTree>>;
  const reporter = recordingReporter();
  beforeAll(async () => {
    outDir = outDirOf('standard');
    before = snapshot(bullseye);
    result = await scanTree(makeTestContext(tempDir(), 'scan', { reporter }), opts({ outDir, oval: OVAL }));
  }, 120_000);

  test('writes the ARF and the HTML report, both non-trivial, and nothing else beside them', () => {
    expect(result.arf).toBe(join(outDir, 'openscap.arf.xml'));
    expect(result.html).toBe(join(outDir, 'openscap.html'));
    expect(statSync(result.arf).size).toBeGreaterThan(1_000_000); // the data stream is embedded
    const html = readFileSync(result.html, 'utf8');
    expect(html).toMatch(/OpenSCAP Evaluation Report/);
    expect(html).toContain('Standard System Security Profile for Debian 11');
    expect(readdirSync(outDir).sort()).toEqual(['openscap-oval.html', 'openscap-oval.xml', 'openscap.arf.xml', 'openscap.html']);
  });

  test('the ARF is well-formed for oscap and names the profile and the tree', () => {
    const arf = readFileSync(result.arf, 'utf8');
    expect(arf).toContain(`<profile idref="${STANDARD}"/>`);
    expect(arf).toContain(`chroot://${bullseye}`);
    expect(() => execFileSync('oscap', ['info', result.arf], { stdio: 'pipe' })).not.toThrow();
  });

  test("pass and fail agree with oscap's own reading of the ARF, rule by rule", () => {
    const seen = oscapReading(result.arf);
    expect(result.pass).toBeGreaterThan(0);
    expect(result.fail).toBeGreaterThan(0);
    expect({ pass: result.pass, fail: result.fail }).toEqual({ pass: seen.passed, fail: seen.failed });
    const failedByOscap = [...seen.rules].filter(([, r]) => r === 'fail').map(([id]) => id).sort();
    expect([...result.failed].sort()).toEqual(failedByOscap);
    expect(result.notApplicable).toBe([...seen.rules.values()].filter((r) => r === 'notapplicable').length);
  });

  test('package rules read the tree: the OVAL check sees bash installed and cron not (the dpkginfo probe works)', () => {
    const oval = readFileSync(result.ovalResults!, 'utf8');
    const def = (n: number) => new RegExp(`definition_id="oval:org.osb.test:def:${n}" result="([a-z ]+)"`).exec(oval)?.[1];
    expect([def(1), def(2), def(3), def(4)]).toEqual(['true', 'true', 'false', 'false']);
    expect(readFileSync(result.ovalHtml!, 'utf8')).toMatch(/OVAL Results/);
    // And in the profile: minbase has no cron, and oscap says it is missing because it is.
    expect(arfResult(readFileSync(result.arf, 'utf8'), 'xccdf_org.ssgproject.content_rule_package_cron_installed')).toBe('fail');
  });

  test('leaves the tree exactly as it was (no apt cache, no temporaries at its root)', () => {
    expect(snapshot(bullseye)).toEqual(before);
  });

  test('says which probes oscap cannot run against a tree', () => {
    expect(reporter.lines).toContainEqual(expect.stringMatching(/^warning: openscap: oscap cannot run the sysctl probe against a tree/));
    expect(reporter.lines).toContainEqual(expect.stringMatching(new RegExp(`^openscap: ${result.pass} pass, ${result.fail} fail, ${result.notApplicable} not applicable`)));
  });
});

test('failOnRule: the error names real failed rules and the count; the report is kept to say why', async () => {
  const outDir = outDirOf('fail');
  const err = await scanTree(makeTestContext(tempDir(), 'scan'), opts({ outDir, profile: 'standard', failOnRule: true })).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OsbError);
  const message = (err as OsbError).message;
  expect(message).not.toContain('\n');
  const arf = readFileSync(join(outDir, 'openscap.arf.xml'), 'utf8');
  const named = [...message.matchAll(/xccdf_org\.ssgproject\.content_rule_[\w.-]+/g)].map((m) => m[0]);
  expect(named.length).toBeGreaterThan(0);
  for (const rule of named) expect([rule, arfResult(arf, rule)]).toEqual([rule, 'fail']);
  const count = Number(/(\d+) rules? failed/.exec(message)![1]);
  expect(count).toBe(oscapReading(join(outDir, 'openscap.arf.xml')).failed);
  expect((err as OsbError).hint).toContain(join(outDir, 'openscap.html'));
}, 120_000);

test('an unknown profile is refused in one line naming a few real ones, before anything is written', async () => {
  const outDir = outDirOf('profile');
  const err = (await scanTree(makeTestContext(tempDir(), 'scan'), opts({ outDir, profile: 'cis_level1' })).catch((e: unknown) => e)) as OsbError;
  expect(err).toBeInstanceOf(OsbError);
  expect(err.message).toMatch(/^unknown profile 'cis_level1' in ssg-debian11-ds\.xml; it has 5: xccdf_org\.ssgproject\.content_profile_\w+, /);
  expect(err.message).not.toContain('\n');
  expect(existsSync(outDir)).toBe(false);
});

describe('nothing under the final names when the scan does not complete', () => {
  test('the data stream is missing', async () => {
    const outDir = outDirOf('missing');
    await expect(scanTree(makeTestContext(tempDir(), 'scan'), opts({ outDir, datastream: join(SSG_CONTENT, 'ssg-debian99-ds.xml') }))).rejects.toThrow(/ssg-debian99-ds\.xml does not exist/);
    expect(existsSync(join(outDir, 'openscap.arf.xml'))).toBe(false);
  });

  test('the data stream is broken: oscap cannot read it', async () => {
    const dir = tempDir();
    const broken = join(dir, 'broken-ds.xml');
    writeFileSync(broken, readFileSync(join(FIXTURES, 'osb-test-ds.xml'), 'utf8').slice(0, 300));
    const outDir = outDirOf('broken');
    await expect(scanTree(makeTestContext(dir, 'scan'), opts({ outDir, datastream: broken }))).rejects.toThrow(/is not a SCAP document oscap can read: Unable to parse XML/);
    expect(existsSync(join(outDir, 'openscap.arf.xml'))).toBe(false);
  });

  test('oscap fails (exit 1) after writing part of its results: the error names the command, and nothing is kept', async () => {
    // A stand-in oscap first on PATH: `info` is the real one; `xccdf eval` writes a partial ARF
    // where it was told to, and fails.
    const real = execFileSync('sh', ['-c', 'command -v oscap'], { encoding: 'utf8' }).trim();
    const bin = tempDir('osb-scap-bin-');
    writeFileSync(
      join(bin, 'oscap'),
      `#!/bin/sh\n[ "$1" = info ] && exec ${real} "$@"\nwhile [ "$1" != --results-arf ]; do shift; done\necho "<arf:asset-report-collection" > "$2"\necho "OpenSCAP Error: stand-in failure" >&2\nexit 1\n`,
    );
    chmodSync(join(bin, 'oscap'), 0o755);
    const outDir = outDirOf('tool');
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const err = (await scanTree(makeTestContext(tempDir(), 'scan'), opts({ outDir })).catch((e: unknown) => e)) as OsbError;
      expect(err.message).toMatch(/^command exited with code 1: env OSCAP_PROBE_ROOT=\S+ OSCAP_EVALUATION_TARGET=chroot:\/\/\S+ APT_CONFIG=\S+ oscap xccdf eval --profile xccdf_org\.ssgproject\.content_profile_standard --results-arf /);
      expect(err.hint).toMatch(/OpenSCAP Error: stand-in failure/);
    } finally {
      process.env.PATH = path;
    }
    expect(readdirSync(outDir)).toEqual([]);
  });

  test('the scan is interrupted: no results, no stage, the tree as it was', async () => {
    const outDir = outDirOf('interrupt');
    const before = snapshot(bullseye);
    const abort = new AbortController();
    const reporter = recordingReporter();
    const info = reporter.info;
    reporter.info = (m) => {
      info(m);
      if (m.startsWith('openscap: scanning')) setTimeout(() => abort.abort(), 500);
    };
    const started = Date.now();
    await expect(scanTree(makeTestContext(tempDir(), 'scan', { reporter, signal: abort.signal }), opts({ outDir }))).rejects.toBeInstanceOf(InterruptedError);
    expect(Date.now() - started).toBeLessThan(15_000);
    // oscap itself was stopped (not only a wrapper around it): nothing runs that would write later.
    expect(processesNaming(outDir)).toEqual([]);
    await new Promise((r) => setTimeout(r, 5000));
    expect(readdirSync(outDir)).toEqual([]);
    expect(snapshot(bullseye)).toEqual(before);
  }, 60_000);
});

describe('a bookworm tree', () => {
  test('Debian 12 has no data stream for itself: no default for bookworm, Debian 11 for bullseye', () => {
    expect(defaultDatastream('debian', 'bookworm')).toBeUndefined();
    expect(defaultDatastream('debian', 'bullseye')).toBe(DS11);
  });

  test("with Debian 11's content every rule is not applicable: a warning says so, and failOnRule refuses to pass it", async () => {
    const reporter = recordingReporter();
    const outDir = outDirOf('bookworm');
    const r = await scanTree(makeTestContext(tempDir(), 'scan', { reporter }), { tree: bookworm, datastream: DS11, profile: STANDARD, outDir });
    expect({ pass: r.pass, fail: r.fail }).toEqual({ pass: 0, fail: 0 });
    expect(r.notApplicable).toBeGreaterThan(0);
    const rows = [...oscapReading(r.arf).rules.values()];
    expect(rows.length).toBe(r.notApplicable);
    expect(new Set(rows)).toEqual(new Set(['notapplicable']));
    expect(reporter.lines).toContainEqual(
      expect.stringMatching(/^warning: openscap: no rule was evaluated: of the selected rules, \d+ not applicable to this tree \(the benchmark is for cpe:\/o:debian:debian_linux:11; the tree is Debian GNU\/Linux 12 \(bookworm\)\)/),
    );
    await expect(scanTree(makeTestContext(tempDir(), 'scan'), { tree: bookworm, datastream: DS11, profile: STANDARD, outDir, failOnRule: true })).rejects.toThrow(/^openscap: no rule was evaluated/);
  }, 120_000);
});

test('--dry-run prints the oscap command and writes nothing', async () => {
  const reporter = recordingReporter();
  const outDir = outDirOf('dry');
  const r = await scanTree(makeTestContext(tempDir(), 'scan', { dryRun: true, reporter }), opts({ outDir }));
  expect(reporter.lines).toContainEqual(expect.stringMatching(new RegExp(`^would run: env OSCAP_PROBE_ROOT=${bullseye} OSCAP_EVALUATION_TARGET=chroot://${bullseye} APT_CONFIG=\\S+ oscap xccdf eval --profile ${STANDARD} --results-arf \\S+ --report \\S+ ${DS11}$`)));
  expect(r.pass + r.fail).toBe(0);
  expect(existsSync(outDir)).toBe(false);
});

test('the fixture the fast test reads is what a scan of the bullseye tree writes today', async () => {
  // tests/fixtures/openscap/small.arf.xml came from this scan; its results must not have drifted.
  const outDir = outDirOf('fixture');
  const r = await scanTree(makeTestContext(tempDir(), 'scan'), { tree: bullseye, datastream: join(FIXTURES, 'osb-test-ds.xml'), profile: 'small', outDir });
  expect({ pass: r.pass, fail: r.fail, failed: r.failed, notApplicable: r.notApplicable }).toEqual({
    pass: 2, fail: 2, failed: ['xccdf_org.osb_rule_marker_exists', 'xccdf_org.osb_rule_cron_installed'], notApplicable: 1,
  });
  const rows = (f: string) => [...readFileSync(f, 'utf8').matchAll(/<rule-result idref="([^"]+)"[^>]*>\s*<result>([a-z]+)<\/result>/g)].map((m) => `${m[1]} ${m[2]}`);
  expect(rows(r.arf)).toEqual(rows(join(FIXTURES, 'small.arf.xml')));
}, 60_000);
