/**
 * Reading oscap's output (openscap/arf.ts) against real output: an ARF and OVAL results oscap
 * 1.3.7 wrote for a bullseye tree with the small benchmark beside them (tests/fixtures/openscap/:
 * osb-test-xccdf.xml and osb-test-oval.xml, composed into osb-test-ds.xml by `oscap ds
 * sds-compose`, scanned with scanTree, profile small), and the profile list `oscap info
 * --profiles` prints for Debian 12's ssg-debian11-ds.xml. Then the data stream for a release, and
 * what scanTree refuses before it runs anything.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  benchmarkPlatforms,
  countOvalDefinitions,
  countRules,
  defaultDatastream,
  parseProfiles,
  parseTestResults,
  resolveProfile,
  scanTree,
  ssgProduct,
} from '../../openscap/index.js';
import { documentType, fewOf, offlineProbe } from '../../openscap/arf.js';
import { makeTestContext, recordingReporter, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';

afterAll(removeTempDirs);

const FIXTURES = join(REPO_ROOT, 'tests/fixtures/openscap');
const ARF = readFileSync(join(FIXTURES, 'small.arf.xml'), 'utf8');

/** `oscap info --profiles /usr/share/xml/scap/ssg/content/ssg-debian11-ds.xml` (ssg-debian 0.1.65). */
const SSG_DEBIAN11_PROFILES = `xccdf_org.ssgproject.content_profile_anssi_np_nt28_average:Profile for ANSSI DAT-NT28 Average (Intermediate) Level
xccdf_org.ssgproject.content_profile_anssi_np_nt28_high:Profile for ANSSI DAT-NT28 High (Enforced) Level
xccdf_org.ssgproject.content_profile_anssi_np_nt28_minimal:Profile for ANSSI DAT-NT28 Minimal Level
xccdf_org.ssgproject.content_profile_anssi_np_nt28_restrictive:Profile for ANSSI DAT-NT28 Restrictive Level
xccdf_org.ssgproject.content_profile_standard:Standard System Security Profile for Debian 11
`;
/** The same command on the OVAL file beside it. */
const SSG_DEBIAN11_OVAL_INFO = `Document type: OVAL Definitions
OVAL version: 5.11
Generated: 2022-12-20T09:54:05
Imported: 2022-12-20T09:54:05
`;

describe('the ARF', () => {
  const results = parseTestResults(ARF);

  test('has one TestResult, for the profile and benchmark evaluated', () => {
    expect(results).toHaveLength(1);
    expect(results[0]!.profile).toBe('xccdf_org.osb_profile_small');
    expect(results[0]!.benchmark).toBe('xccdf_org.osb_benchmark_test');
    expect(results[0]!.id).toBe('xccdf_org.open-scap_testresult_xccdf_org.osb_profile_small');
  });

  test('lists every rule with its result, in document order (the source data stream inside holds rules, not results)', () => {
    expect(results[0]!.rules).toEqual([
      { rule: 'xccdf_org.osb_rule_bash_installed', result: 'pass' },
      { rule: 'xccdf_org.osb_rule_passwd_exists', result: 'pass' },
      { rule: 'xccdf_org.osb_rule_marker_exists', result: 'fail' },
      { rule: 'xccdf_org.osb_rule_cron_installed', result: 'fail' },
      { rule: 'xccdf_org.osb_rule_other_platform', result: 'notapplicable' },
      { rule: 'xccdf_org.osb_rule_left_out', result: 'notselected' },
    ]);
  });

  test('counts agree with a plain count of the result elements', () => {
    const c = countRules(results[0]!.rules);
    const grep = (v: string) => ARF.split(`<result>${v}</result>`).length - 1;
    expect(c).toMatchObject({ pass: grep('pass'), fail: grep('fail'), notApplicable: grep('notapplicable'), notSelected: grep('notselected'), undecided: 0, evaluated: 4 });
    expect(c.failed).toEqual(['xccdf_org.osb_rule_marker_exists', 'xccdf_org.osb_rule_cron_installed']);
  });

  test('error and unknown are undecided; fixed counts as pass; informational and notchecked as neither', () => {
    const c = countRules([
      { rule: 'a', result: 'error' }, { rule: 'b', result: 'unknown' }, { rule: 'c', result: 'fixed' },
      { rule: 'd', result: 'informational' }, { rule: 'e', result: 'notchecked' },
    ]);
    expect(c).toMatchObject({ pass: 1, fail: 0, notChecked: 1, undecided: 2, undecidedRules: ['a', 'b'], evaluated: 1 });
  });

  test('prefixed element names and escaped attributes read the same', () => {
    const xml = `<x:TestResult xmlns:x="http://checklists.nist.gov/xccdf/1.2" id="t&amp;1"><x:profile idref="p"/>
      <x:rule-result idref="r&#x2D;1" role="full"><x:result> fail </x:result></x:rule-result></x:TestResult>`;
    expect(parseTestResults(xml)).toEqual([{ id: 't&1', profile: 'p', benchmark: undefined, rules: [{ rule: 'r-1', result: 'fail' }] }]);
  });

  test('a result value outside XCCDF 1.2, a rule-result without a result or an unterminated TestResult is an error, not a guess', () => {
    expect(() => parseTestResults('<TestResult id="t"><rule-result idref="r"><result>maybe</result></rule-result></TestResult>')).toThrow(/unknown result 'maybe'/);
    expect(() => parseTestResults('<TestResult id="t"><rule-result idref="r"></rule-result></TestResult>')).toThrow(/without a result/);
    expect(() => parseTestResults('<TestResult id="t"><rule-result idref="r">')).toThrow(/unterminated/);
  });

  test("the benchmark's platform is its own, not a rule's (the fixture's rule for another platform names one)", () => {
    expect(ARF).toContain('cpe:/o:osb:nowhere:1');
    expect(benchmarkPlatforms(ARF)).toEqual([]);
    // The lines of ssg-debian11-ds.xml's Benchmark, as the ARF embeds it.
    const ssg = `<xccdf-1.2:Benchmark id="xccdf_org.ssgproject.content_benchmark_DEBIAN-11"><cpe-lang:platform id="machine"/>
      <xccdf-1.2:platform idref="cpe:/o:debian:debian_linux:11"/><xccdf-1.2:Profile id="p"><xccdf-1.2:platform idref="cpe:/o:other:x:1"/></xccdf-1.2:Profile>`;
    expect(benchmarkPlatforms(ssg)).toEqual(['cpe:/o:debian:debian_linux:11']);
  });
});

describe('the OVAL results', () => {
  test('count the definitions by result', () => {
    const c = countOvalDefinitions(readFileSync(join(FIXTURES, 'small-oval.xml'), 'utf8'));
    expect(c).toEqual({ definitions: 4, byResult: { true: 2, false: 2 } });
  });

  test('a document without results is refused', () => {
    expect(() => countOvalDefinitions(readFileSync(join(FIXTURES, 'osb-test-oval.xml'), 'utf8'))).toThrow(/no <results>/);
  });
});

describe('the profiles', () => {
  const profiles = parseProfiles(SSG_DEBIAN11_PROFILES);

  test('are read from oscap info --profiles, and an OVAL file has none', () => {
    expect(profiles.map((p) => p.id)).toHaveLength(5);
    expect(profiles[4]).toEqual({ id: 'xccdf_org.ssgproject.content_profile_standard', title: 'Standard System Security Profile for Debian 11' });
    expect(parseProfiles(SSG_DEBIAN11_OVAL_INFO)).toEqual([]);
    expect(documentType(SSG_DEBIAN11_OVAL_INFO)).toBe('OVAL Definitions');
  });

  test('a full id, or the last part of one, names a profile; a part of several or of none does not', () => {
    expect(resolveProfile('xccdf_org.ssgproject.content_profile_standard', profiles)).toEqual({ id: 'xccdf_org.ssgproject.content_profile_standard' });
    expect(resolveProfile('standard', profiles)).toEqual({ id: 'xccdf_org.ssgproject.content_profile_standard' });
    expect(resolveProfile('anssi_np_nt28_high', profiles)).toEqual({ id: 'xccdf_org.ssgproject.content_profile_anssi_np_nt28_high' });
    expect(resolveProfile('cis', profiles)).toEqual({ error: 'unknown', candidates: profiles.map((p) => p.id) });
    const two = parseProfiles('a_profile_x:one\nb_profile_x:two\n');
    expect(resolveProfile('x', two)).toEqual({ error: 'ambiguous', candidates: ['a_profile_x', 'b_profile_x'] });
  });

  test('a few of many, and how many more', () => {
    expect(fewOf(['a', 'b', 'c', 'd', 'e'])).toBe('a, b, c (and 2 more)');
    expect(fewOf(['a', 'b'])).toBe('a, b');
  });
});

test("oscap's warning about a probe it cannot run against a tree names the probe", () => {
  expect(offlineProbe('W: oscap:       Requested offline mode is not supported by sysctl probe.')).toBe('sysctl');
  expect(offlineProbe('E: oscap:     dpkginfo_init has failed.')).toBeUndefined();
});

describe('the data stream for a release', () => {
  test('names the SSG product, by number or codename', () => {
    expect(ssgProduct('debian', 'bookworm')).toBe('debian12');
    expect(ssgProduct('debian', '11')).toBe('debian11');
    expect(ssgProduct('debian', 'sid')).toBeUndefined();
    expect(ssgProduct('ubuntu', 'jammy')).toBe('ubuntu2204');
    expect(ssgProduct('ubuntu', '24.04')).toBe('ubuntu2404');
    expect(ssgProduct('centos', 'stream9')).toBe('cs9');
    expect(ssgProduct('fedora', '43')).toBe('fedora');
    expect(ssgProduct('alpine', 'v3.22')).toBeUndefined();
  });

  test('is the installed file, or nothing when it is not installed', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ssg-debian11-ds.xml'), '');
    writeFileSync(join(dir, 'ssg-ubuntu2204-ds.xml'), '');
    expect(defaultDatastream('debian', 'bullseye', dir)).toBe(join(dir, 'ssg-debian11-ds.xml'));
    expect(defaultDatastream('ubuntu', 'jammy', dir)).toBe(join(dir, 'ssg-ubuntu2204-ds.xml'));
    // Debian 12's ssg-debian ships no Debian 12 content: no default, rather than Debian 11's.
    expect(defaultDatastream('debian', 'bookworm', dir)).toBeUndefined();
  });
});

describe('scanTree refuses before running anything', () => {
  const ds = join(FIXTURES, 'osb-test-ds.xml');

  test('a tree that is missing or not a directory, a missing data stream, a basename with a slash', async () => {
    const dir = tempDir();
    const ctx = makeTestContext(dir, 'scan');
    await expect(scanTree(ctx, { tree: join(dir, 'nope'), datastream: ds, outDir: join(dir, 'out') })).rejects.toThrow(/nope, does not exist/);
    writeFileSync(join(dir, 'file'), '');
    await expect(scanTree(ctx, { tree: join(dir, 'file'), datastream: ds, outDir: join(dir, 'out') })).rejects.toThrow(/is not a directory/);
    mkdirSync(join(dir, 'tree'));
    await expect(scanTree(ctx, { tree: join(dir, 'tree'), datastream: join(dir, 'ssg-none-ds.xml'), outDir: join(dir, 'out') })).rejects.toMatchObject({
      message: expect.stringMatching(/SCAP data stream .*ssg-none-ds.xml does not exist/),
      hint: expect.stringMatching(/apt-get install ssg-debian/),
    });
    await expect(scanTree(ctx, { tree: join(dir, 'tree'), datastream: ds, outDir: join(dir, 'out'), basename: 'a/b' })).rejects.toThrow(/not a plain file name/);
  });

  test('in --dry-run, a tree not built yet is a line saying what would be scanned, and nothing is written', async () => {
    const dir = tempDir();
    const reporter = recordingReporter();
    const r = await scanTree(makeTestContext(dir, 'scan', { dryRun: true, reporter }), { tree: join(dir, 'rootfs'), datastream: ds, profile: 'small', outDir: join(dir, 'out') });
    expect(reporter.lines).toEqual([expect.stringMatching(/^would scan .*rootfs once it is built .*profile small, writing .*openscap\.arf\.xml and .*openscap\.html$/)]);
    expect(r).toMatchObject({ arf: join(dir, 'out/openscap.arf.xml'), html: join(dir, 'out/openscap.html'), pass: 0, fail: 0 });
  });
});
