/**
 * Provenance beside each artefact: an in-toto Statement v1 with the SLSA provenance v1
 * predicate, whose subjects' digests are the files' sha256, with the target's settings, the
 * inputs hash and what was resolved (the package set, each package, the agent, the kernel source).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePurl } from '../../supply-chain/purl.js';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';

const sha256 = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

let dir: string;
let fixture: string;
beforeAll(() => {
  dir = tempDir('osb-provenance-');
  fixture = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

const packages = [
  { name: 'busybox-static', version: '1:1.35.0-4+b3', arch: 'amd64' },
  { name: 'libc6', version: '2.36-9+deb12u10', arch: 'amd64' },
];

function workdir(name: string): string {
  const wd = join(dir, name);
  mkdirSync(wd, { recursive: true });
  writeFileSync(join(wd, 'rootfs.manifest.json'), JSON.stringify({
    tool: 'osb', distro: 'debian', release: 'bookworm', arch: 'x86_64', mirror: 'http://deb.debian.org/debian', agentInit: true, slim: true,
    agent: { name: 'osb-agent', source: 'builtin', sha256: 'b'.repeat(64), builtin: true }, extraPackages: [], hooks: [], packages, inputsHash: 'e'.repeat(64), sourceDateEpoch: 1,
  }));
  return wd;
}

interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: {
    buildDefinition: { buildType: string; externalParameters: { target: string; settings: Record<string, unknown> }; internalParameters: { inputsHash: string; sourceDateEpoch: number }; resolvedDependencies: { name?: string; uri?: string; digest?: Record<string, string> }[] };
    runDetails: { builder: { id: string } };
  };
}

describe('provenance', () => {
  test('measured image: Statement v1 shape; subjects are the image and root_hash.txt with their sha256; settings, inputs hash, packages, agent and kernel source', () => {
    const wd = workdir('image');
    symlinkSync(guestKernel(), join(wd, 'vmlinuz.container'));
    mkdirSync(join(wd, '.osb', 'state'), { recursive: true });
    writeFileSync(join(wd, '.osb', 'state', 'kernel.json'), JSON.stringify({ target: 'kernel', inputs: { 'kernel source': '/usr/src/linux-source-6.1.tar.xz sha256:1234' } }));
    const r = osb(['image', '--no-deps', '--rootfs-dir', fixture, '--workdir', wd, '--measured-rootfs', '--fs-type', 'erofs', '--partition-table', 'mbr'], { env: cleanEnv({ SOURCE_DATE_EPOCH: '1234' }) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const st = JSON.parse(readFileSync(join(wd, 'osb.img.intoto.json'), 'utf8')) as Statement;
    expect(Object.keys(st).sort()).toEqual(['_type', 'predicate', 'predicateType', 'subject']);
    expect(st._type).toBe('https://in-toto.io/Statement/v1');
    expect(st.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(st.subject).toEqual([
      { name: 'osb.img', digest: { sha256: sha256(join(wd, 'osb.img')) } },
      { name: 'root_hash.txt', digest: { sha256: sha256(join(wd, 'root_hash.txt')) } },
    ]);
    const bd = st.predicate.buildDefinition;
    expect(bd.buildType).toMatch(/^https:\/\//);
    expect(bd.externalParameters.target).toBe('image');
    expect(bd.externalParameters.settings).toMatchObject({ fsType: 'erofs', measuredRootfs: true, partitionTable: 'mbr', sourceDateEpoch: 1234 });
    const state = JSON.parse(readFileSync(join(wd, '.osb', 'state', 'image.json'), 'utf8')) as { inputsHash: string };
    expect(bd.internalParameters).toEqual({ inputsHash: state.inputsHash, sourceDateEpoch: 1234 });
    const deps = bd.resolvedDependencies;
    expect(deps.find((d) => d.name === 'package set')).toMatchObject({ annotations: { distro: 'debian', release: 'bookworm', packages: 2 } });
    const purls = deps.filter((d) => d.uri?.startsWith('pkg:')).map((d) => parsePurl(d.uri!));
    expect(purls.map((p) => [p.name, p.version])).toEqual(packages.map((p) => [p.name, p.version]));
    expect(deps.find((d) => d.name === 'agent osb-agent')?.digest).toEqual({ sha256: 'b'.repeat(64) });
    expect(deps.find((d) => d.name === 'kernel source')?.digest).toEqual({ sha256: sha256(guestKernel()) });
    expect(st.predicate.runDetails.builder.id).toMatch(/osb@\d/);
  }, 120_000);

  test('initrd and OCI: the subject digest is the file\'s sha256', () => {
    const wd = workdir('initrd-oci');
    for (const [t, file] of [['initrd', 'osb-initrd.img'], ['oci', 'osb-oci.tar']] as const) {
      expect(osb([t, '--no-deps', '--rootfs-dir', fixture, '--workdir', wd, '--agent-init']).code).toBe(0);
      const st = JSON.parse(readFileSync(join(wd, `${file}.intoto.json`), 'utf8')) as Statement;
      expect(st.subject).toEqual([{ name: file, digest: { sha256: sha256(join(wd, file)) } }]);
      expect(st.predicate.buildDefinition.externalParameters.target).toBe(t);
    }
  }, 120_000);
});
