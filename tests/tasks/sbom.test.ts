/**
 * SBOMs: they validate against the official SPDX 2.3 and CycloneDX 1.6 JSON schemas (shipped in
 * tests/fixtures/schemas, see the README there) with ajv; osb's purls parse and build as the purl
 * spec's own test data says (tests/fixtures/purl); the package count equals the rootfs
 * manifest's; created is SOURCE_DATE_EPOCH. The packages are a real Debian minbase's dpkg
 * database (the cached tree the image tests use), so licenses come from real copyright files.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { canonicalPurl, formatPurl, packagePurl, parsePurl } from '../../supply-chain/purl.js';
import { dep5Licenses, packageMeta } from '../../supply-chain/sbom-meta.js';
import { cleanEnv, osb } from '../helpers/cli.js';
import { debianRootfs } from '../helpers/debian-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';
import { makeFixtureRootfs, REPO_ROOT } from '../helpers/fixture-rootfs.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';

const require = createRequire(import.meta.url);
const Ajv = require('ajv').default as typeof import('ajv').default;
const addFormats = require('ajv-formats').default as typeof import('ajv-formats').default;
const SCHEMAS = join(REPO_ROOT, 'tests/fixtures/schemas');
const schema = (name: string) => JSON.parse(readFileSync(join(SCHEMAS, name), 'utf8'));

function validator(kind: 'spdx' | 'cyclonedx') {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  if (kind === 'spdx') return ajv.compile(schema('spdx-2.3.schema.json'));
  // bom-1.6 refers to these two by their $id.
  ajv.addSchema(schema('spdx.schema.json'));
  ajv.addSchema(schema('jsf-0.82.schema.json'));
  return ajv.compile(schema('bom-1.6.schema.json'));
}

function expectValid(kind: 'spdx' | 'cyclonedx', doc: unknown): void {
  const validate = validator(kind);
  const ok = validate(doc);
  expect(ok ? [] : validate.errors!.slice(0, 5)).toEqual([]);
}

interface SpecTest {
  description: string;
  test_type: 'parse' | 'build' | 'validate';
  input: unknown;
  expected_output: unknown;
  expected_failure: boolean;
}
const specTests = (t: string): SpecTest[] => (JSON.parse(readFileSync(join(REPO_ROOT, 'tests/fixtures/purl', `${t}-test.json`), 'utf8')) as { tests: SpecTest[] }).tests;

describe('purls by the purl spec', () => {
  test.each(['deb', 'rpm', 'apk'])("the spec's %s test data: parse, build, canonical form", (t) => {
    for (const c of specTests(t)) {
      if (c.test_type === 'parse') {
        if (c.expected_failure) {
          expect(() => parsePurl(c.input as string)).toThrow();
          continue;
        }
        const want = c.expected_output as { type: string; namespace: string | null; name: string; version: string | null; qualifiers: Record<string, string> | null; subpath: string | null };
        const got = parsePurl(c.input as string);
        expect({ type: got.type, namespace: got.namespace ?? null, name: got.name, version: got.version ?? null, qualifiers: got.qualifiers ?? null, subpath: got.subpath ?? null }).toEqual(want);
      } else if (c.test_type === 'build') {
        const i = c.input as { type: string; namespace: string | null; name: string; version: string | null; qualifiers: Record<string, string> | null };
        expect(formatPurl({ type: i.type, namespace: i.namespace ?? undefined, name: i.name, version: i.version ?? undefined, qualifiers: i.qualifiers ?? undefined })).toBe(c.expected_output);
      } else {
        expect(canonicalPurl(c.input as string)).toBe(c.expected_output);
      }
    }
  });

  test('osb writes arch and distro qualifiers, the release as a number where the codename has one', () => {
    expect(packagePurl('deb', 'debian', 'bookworm', { name: 'libc6', version: '2.36-9+deb12u10', arch: 'amd64' })).toBe('pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12');
    expect(packagePurl('deb', 'ubuntu', 'noble', { name: 'bash', version: '5.2.21-2ubuntu4', arch: 'amd64' })).toBe('pkg:deb/ubuntu/bash@5.2.21-2ubuntu4?arch=amd64&distro=ubuntu-24.04');
    expect(packagePurl('apk', 'alpine', 'v3.22', { name: 'busybox', version: '1.37.0-r18', arch: 'x86_64' })).toBe('pkg:apk/alpine/busybox@1.37.0-r18?arch=x86_64&distro=alpine-3.22');
    expect(packagePurl('rpm', 'fedora', '42', { name: 'curl', version: '8.11.1-4.fc42', arch: 'x86_64' })).toBe('pkg:rpm/fedora/curl@8.11.1-4.fc42?arch=x86_64&distro=fedora-42');
    // A Debian epoch keeps its colon; the purl parses back to the same version.
    const p = packagePurl('deb', 'debian', 'bookworm', { name: 'attr', version: '1:2.5.1-4', arch: 'amd64' });
    expect(p).toBe('pkg:deb/debian/attr@1:2.5.1-4?arch=amd64&distro=debian-12');
    expect(parsePurl(p).version).toBe('1:2.5.1-4');
  });

  test('DEP-5 copyright files give their License: names; free-text ones give none', () => {
    expect(dep5Licenses('Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n\nFiles: lib/*\nLicense: LGPL-2.1+\n The text.\n\nLicense: GPL-3+\n Text.\n')).toEqual(['GPL-3+', 'LGPL-2.1+']);
    expect(dep5Licenses('This is the Debian prepackaged version of the GNU C Library.\nLicense: GPL\n')).toBeUndefined();
  });

  test("apk's installed database gives each package's license and the SHA-1 of its control data", () => {
    const root = tempDir('osb-apkdb-');
    mkdirSync(join(root, 'lib/apk/db'), { recursive: true });
    const sha1 = Buffer.alloc(20, 0xab);
    writeFileSync(join(root, 'lib/apk/db/installed'), `C:Q1${sha1.toString('base64')}\nP:busybox\nV:1.37.0-r18\nA:x86_64\nL:GPL-2.0-only\n\nC:Q1${Buffer.alloc(20, 1).toString('base64')}\nP:musl\nV:1.2.5-r10\nL:MIT\n\n`);
    const m = packageMeta(root, 'apk', ['busybox', 'musl']);
    expect(m.get('busybox')).toEqual({ sha1: 'ab'.repeat(20), licenseExpression: 'GPL-2.0-only', licenseSource: '/lib/apk/db/installed' });
    expect(m.get('musl')?.licenseExpression).toBe('MIT');
  });

  test("a package's copyright is read through the tree's links as the guest sees them, never from the host", () => {
    const host = tempDir('osb-sbom-host-');
    const dep5 = (l: string) => `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: ${l}\n`;
    mkdirSync(join(host, 'doc/leak'), { recursive: true });
    writeFileSync(join(host, 'doc/leak/copyright'), dep5('HOST-SECRET'));
    const root = tempDir('osb-sbom-links-');
    mkdirSync(join(root, 'usr/share/doc/libfoo2'), { recursive: true });
    writeFileSync(join(root, 'usr/share/doc/libfoo2/copyright'), dep5('MIT'));
    symlinkSync('libfoo2', join(root, 'usr/share/doc/libfoo-dev')); // Debian's usual link between packages
    symlinkSync(join(host, 'doc/leak'), join(root, 'usr/share/doc/leak')); // absolute: the guest's path, not the host's
    const m = packageMeta(root, 'deb', ['libfoo-dev', 'leak']);
    expect(m.get('libfoo-dev')?.licenseNames).toEqual(['MIT']);
    expect(m.get('leak')).toEqual({});
  });
});

describe('SBOMs of real builds', () => {
  let dir: string;
  let debian: string;
  let fixture: string;
  let packages: { name: string; version: string; arch: string }[];
  const SDE = '1700000000';
  const env = cleanEnv({ SOURCE_DATE_EPOCH: SDE });

  /** A workdir whose rootfs manifest lists `debian`'s dpkg database, as `osb rootfs` writes it. */
  function workdir(name: string): string {
    const wd = join(dir, name);
    mkdirSync(wd, { recursive: true });
    const manifest = {
      tool: 'osb', distro: 'debian', release: 'bookworm', arch: 'x86_64', mirror: 'http://deb.debian.org/debian', agentInit: true, slim: true,
      agent: { name: 'osb-agent', source: 'builtin', sha256: 'a'.repeat(64), builtin: true },
      extraPackages: [], hooks: [], packages, inputsHash: 'f'.repeat(64), sourceDateEpoch: Number(SDE),
    };
    writeFileSync(join(wd, 'rootfs.manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    return wd;
  }

  beforeAll(() => {
    dir = tempDir('osb-sbom-test-');
    debian = debianRootfs();
    fixture = makeFixtureRootfs(join(dir, 'fixture'));
    const out = execFileSync('dpkg-query', [`--admindir=${join(debian, 'var/lib/dpkg')}`, '-W', '-f', '${Package}\\t${Version}\\t${Architecture}\\n'], { encoding: 'utf8' });
    packages = out.split('\n').filter(Boolean).map((l) => l.split('\t')).map(([name, version, arch]) => ({ name: name!, version: version!, arch: arch! })).sort((a, b) => a.name.localeCompare(b.name));
  }, 10 * 60_000);
  afterAll(removeTempDirs);

  test('image: SPDX 2.3 by default, valid; one package per manifest entry with supplier, purl and DEP-5 license names; created = SOURCE_DATE_EPOCH', () => {
    const wd = workdir('spdx');
    // The guest kernel osb built in this workdir is a component of the image's SBOM.
    symlinkSync(guestKernel(), join(wd, 'vmlinuz.container'));
    const r = osb(['image', '--no-deps', '--rootfs-dir', debian, '--workdir', wd, '--no-dax', '--fs-type', 'ext4', '--sbom-format', 'spdx'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(wd, 'osb.img.spdx.json'), 'utf8'));
    expectValid('spdx', doc);
    expect(doc.creationInfo.created).toBe(new Date(Number(SDE) * 1000).toISOString().replace('.000', ''));
    const debs = doc.packages.filter((p: { externalRefs?: { referenceLocator: string }[] }) => p.externalRefs?.[0]?.referenceLocator.startsWith('pkg:deb/'));
    expect(debs).toHaveLength(packages.length);
    const bash = debs.find((p: { name: string }) => p.name === 'bash');
    const want = packages.find((p) => p.name === 'bash')!;
    expect(bash).toMatchObject({ versionInfo: want.version, supplier: 'Organization: Debian' });
    expect(bash.externalRefs[0].referenceLocator).toBe(`pkg:deb/debian/bash@${encodeURIComponent(want.version)}?arch=${want.arch}&distro=debian-12`);
    expect(bash.licenseComments).toMatch(/GPL-3\+/);
    // The image itself is described, with its sha256; the agent is a component.
    const img = readFileSync(join(wd, 'osb.img'));
    const sha = (execFileSync('sha256sum', [join(wd, 'osb.img')], { encoding: 'utf8' }).split(' ')[0]);
    expect(img.length).toBeGreaterThan(0);
    expect(doc.packages[0].checksums).toEqual([{ algorithm: 'SHA256', checksumValue: sha }]);
    expect(doc.packages.some((p: { name: string; primaryPackagePurpose: string }) => p.name === 'osb-agent' && p.primaryPackagePurpose === 'APPLICATION')).toBe(true);
    const kernel = doc.packages.find((p: { name: string }) => p.name === 'linux');
    expect(kernel).toMatchObject({ primaryPackagePurpose: 'OPERATING_SYSTEM', versionInfo: expect.stringMatching(/^\d+\.\d+/) });
    expect(kernel.checksums[0].checksumValue).toBe(execFileSync('sha256sum', [guestKernel()], { encoding: 'utf8' }).split(' ')[0]);
    expect(doc.relationships[0]).toEqual({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: doc.packages[0].SPDXID });
  }, 5 * 60_000);

  test('initrd and OCI: CycloneDX 1.6 with --sbom-format cyclonedx, valid; a forced rebuild gives the same SBOM bytes', () => {
    const sboms: string[] = [];
    // (The input hash, which the SBOM records, covers the workdir's paths: rebuild in the same one.)
    const wd = workdir('cdx');
    for (const force of [[], ['--force']]) {
      const args = ['--no-deps', '--rootfs-dir', fixture, '--workdir', wd, '--agent-init', '--sbom-format', 'cyclonedx', ...force];
      for (const t of ['initrd', 'oci']) {
        const r = osb([t, ...args], { env });
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      for (const f of ['osb-initrd.img.cdx.json', 'osb-oci.tar.cdx.json']) {
        const text = readFileSync(join(wd, f), 'utf8');
        const doc = JSON.parse(text);
        expectValid('cyclonedx', doc);
        expect(doc.metadata.timestamp).toBe('2023-11-14T22:13:20Z');
        expect(doc.components.filter((c: { purl: string }) => c.purl.startsWith('pkg:deb/debian/'))).toHaveLength(packages.length);
        for (const c of doc.components) expect(() => parsePurl(c.purl)).not.toThrow();
        sboms.push(text);
      }
    }
    expect(sboms[2]).toBe(sboms[0]);
    expect(sboms[3]).toBe(sboms[1]);
  }, 5 * 60_000);

  test('rootfs: its SBOM (WORKDIR/rootfs.spdx.json) lists the manifest packages and validates', async () => {
    const wd = workdir('rootfs');
    const { makeTestContext } = await import('../helpers/build-context.js');
    const { writeSbom } = await import('../../tasks/targets/supply-chain.js');
    const s = { workdir: wd, rootfsDir: debian, sbomFormat: 'spdx', sourceDateEpoch: Number(SDE) } as never;
    const out = await writeSbom(makeTestContext(wd, 'rootfs'), s, 'rootfs', 'ab'.repeat(32));
    expect(out).toBe(join(wd, 'rootfs.spdx.json'));
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expectValid('spdx', doc);
    expect(doc.packages[0].primaryPackagePurpose).toBe('OPERATING_SYSTEM');
    expect(doc.packages.filter((p: { primaryPackagePurpose: string }) => p.primaryPackagePurpose === 'LIBRARY')).toHaveLength(packages.length);
  });

  test('a rootfs osb did not build (no manifest): the SBOM is valid and lists no packages', () => {
    const wd = join(dir, 'nomanifest');
    const r = osb(['initrd', '--no-deps', '--rootfs-dir', fixture, '--workdir', wd, '--agent-init', '--sbom-format', 'spdx'], { env });
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(wd, 'osb-initrd.img.spdx.json'), 'utf8'));
    expectValid('spdx', doc);
    expect(doc.packages).toHaveLength(1);
  }, 5 * 60_000);
});
