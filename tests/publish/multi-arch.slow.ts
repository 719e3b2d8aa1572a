/**
 * One tag for two architectures: `osb publish --arch x86_64,aarch64` builds a Debian agent-init
 * rootfs and image for each (the arm64 one through qemu-user), pushes both and an OCI image index
 * under the tag, and signs the index and each image. The consumers are the oracles: skopeo reads
 * the index, podman pulls each architecture under a policy that requires osb's key (and refuses
 * it with another key), and osb's own --parent of the index takes the host's image.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { localDigest, makeRegistry, osbAsync, pexec, type Registry } from './servers.js';
import { s3ClientOf, startSwift, type Swift } from './swift.js';
import { consumer, requireVerifiers } from './verifiers.js';

const PASS = 'correct horse';
const env = () => cleanEnv({ OSB_SIGN_PASSWORD: PASS });
let reg: Registry;
let keys: string;
let other: string;
let wd: string;
let first: { code: number | null; stdout: string; stderr: string };
const tag = () => `${reg.host}/guests/multi:v1`;
const publish = () =>
  osbAsync(['publish', '--arch', 'x86_64,arm64', '--agent-init', '--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--oci-ref', 'localhost/multi:v1', '--publish-registry', `${reg.host}/guests/multi`, '--tag', 'v1', '--insecure-registry', '--sign-key', join(keys, 'cosign.key')], env());

beforeAll(async () => {
  requireVerifiers();
  reg = await makeRegistry(tempDir('osb-multi-registry-'), 'plain');
  keys = tempDir('osb-multi-keys-');
  other = tempDir('osb-multi-other-');
  for (const d of [keys, other]) {
    const r = osb(['keygen'], { cwd: d, env: env() });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  wd = tempDir('osb-multi-wd-');
  first = await publish();
  if (first.code !== 0) throw new Error(`${first.stdout}\n${first.stderr}`);
}, 30 * 60_000);

afterAll(async () => {
  await reg?.stop();
  removeTempDirs();
});

describe('osb publish --arch x86_64,aarch64', () => {
  test('each architecture is built in WORKDIR/ARCH; the tag names an OCI index of linux/amd64 and linux/arm64/v8 (skopeo)', () => {
    for (const [arch, elf] of [['x86_64', /x86-64/], ['aarch64', /ARM aarch64/]] as const) {
      expect(execFileSync('file', ['-L', join(wd, arch, 'rootfs', 'usr', 'bin', 'dash')], { encoding: 'utf8' })).toMatch(elf);
      expect(existsSync(join(wd, arch, 'osb-oci.tar.spdx.json'))).toBe(true);
    }
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${tag()}`], { encoding: 'utf8' })) as { mediaType: string; manifests: { digest: string; platform: Record<string, string> }[] };
    expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(raw.manifests.map((m) => m.platform)).toEqual([{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux', variant: 'v8' }]);
    // The images the index names are the ones each architecture's own build wrote.
    expect(raw.manifests.map((m) => m.digest)).toEqual(['x86_64', 'aarch64'].map((a) => localDigest(join(wd, a, 'osb-oci'))));
    expect(first.stdout).toMatch(/pushed 127\.0\.0\.1:\d+\/guests\/multi:v1 \(index sha256:[0-9a-f]{64} of 2 images;/);
  });

  test('podman pulls each architecture under a policy that requires osb\'s key: the arm64 one says arm64 and its /bin/sh is an aarch64 ELF', async () => {
    const pub = join(keys, 'cosign.pub');
    const look = `$PODMAN image inspect --format '{{.Architecture}} {{.Os}}' ${tag()} && file -L "$($PODMAN image mount ${tag()})/bin/sh"`;
    const arm = await consumer('podman', reg.host, tag(), pub, { arch: 'arm64', then: look });
    expect(arm.err).toBe('');
    expect(arm.out).toMatch(/^arm64 linux$/m);
    expect(arm.out).toMatch(/ELF 64-bit LSB .*ARM aarch64/);
    const amd = await consumer('podman', reg.host, tag(), pub, { arch: 'amd64', then: look });
    expect(amd.err).toBe('');
    expect(amd.out).toMatch(/^amd64 linux$/m);
    expect(amd.out).toMatch(/ELF 64-bit LSB .*x86-64/);
  }, 240_000);

  test('podman and skopeo refuse each architecture under a policy that requires another key', async () => {
    const pub = join(other, 'cosign.pub');
    for (const tool of ['podman', 'skopeo'] as const) {
      for (const arch of ['amd64', 'arm64']) {
        const r = await consumer(tool, reg.host, tag(), pub, { arch });
        expect(r.ok).toBe(false);
        expect(r.err).toMatch(/cryptographic signature verification failed|invalid signature/i);
      }
    }
    const ok = await consumer('skopeo', reg.host, tag(), join(keys, 'cosign.pub'), { arch: 'arm64' });
    expect(ok.err).toBe('');
  }, 240_000);

  test('osb verify checks the index and each image, with its attestations; another key is one line, exit 1', () => {
    const pub = join(keys, 'cosign.pub');
    const r = osb(['verify', tag(), '--key', pub, '--insecure-registry']);
    expect(r.stderr).toBe('');
    const att = 'attestations: https://spdx.dev/Document, https://slsa.dev/provenance/v1';
    const [amd, arm] = ['x86_64', 'aarch64'].map((a) => localDigest(join(wd, a, 'osb-oci')));
    expect(r.stdout).toMatch(new RegExp(`^verified ${reg.host.replace(/\./g, '\\.')}/guests/multi@sha256:[0-9a-f]{64} with ${pub}: signed as ${tag().replace(/\./g, '\\.')}; 2 images: linux/amd64 ${amd} \\(${att}\\); linux/arm64/v8 ${arm} \\(${att}\\)\n$`));
    const bad = osb(['verify', tag(), '--key', join(other, 'cosign.pub'), '--insecure-registry']);
    expect(bad.code).toBe(1);
    expect(errorLine(bad.stderr)).toMatch(/none of the index's 1 signature verifies with/);
  });

  test('--parent of the pushed index on this host unpacks the amd64 image', async () => {
    const child = tempDir('osb-multi-child-');
    const r = await osbAsync(['rootfs', '--workdir', child, '--parent', `docker://${tag()}`, '--insecure-registry']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`(manifest ${localDigest(join(wd, 'x86_64', 'osb-oci'))},`);
    expect(execFileSync('file', ['-L', join(child, 'rootfs', 'usr', 'bin', 'dash')], { encoding: 'utf8' })).toMatch(/x86-64/);
  }, 240_000);

  test('a second run builds nothing, pushes the same index and adds no signature', async () => {
    const index = readFileSync(join(wd, 'osb-oci', 'index.json'));
    const again = await publish();
    expect(again.code).toBe(0);
    // Each architecture's rootfs and image are up to date; only the index step runs, and finds its index as it was.
    const [perArch] = again.stdout.split(/^x86_64,aarch64 \(/m);
    expect(perArch!.match(/^↓ (rootfs|oci) \[SKIPPED: up to date\]$/gm)).toHaveLength(4);
    expect(perArch).not.toMatch(/^✔/m);
    expect(again.stdout).toMatch(/index sha256:[0-9a-f]{64} of linux\/amd64, linux\/arm64\/v8 is up to date/);
    expect(again.stdout).toMatch(/already signed with/);
    expect(readFileSync(join(wd, 'osb-oci', 'index.json')).equals(index)).toBe(true);
  }, 600_000);

  test('--publish-local loads the index into podman, which takes the image of this host under the index\'s digest', async () => {
    const store = tempDir('osb-multi-store-');
    const conf = join(store, 'storage.conf');
    writeFileSync(conf, `[storage]\ndriver = "vfs"\nrunroot = "${store}/run"\ngraphroot = "${store}/root"\n`);
    const r = await osbAsync(['publish', '--arch', 'x86_64,arm64', '--workdir', wd, '--publish-local'], cleanEnv({ CONTAINERS_STORAGE_CONF: conf }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const podman = ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs'];
    const index = (JSON.parse(readFileSync(join(wd, 'osb-oci', 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest;
    expect((await pexec('podman', [...podman, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.Digest}}'])).stdout.trim()).toBe(`localhost/multi:v1 ${index}`);
    expect((await pexec('podman', [...podman, 'image', 'inspect', '--format', '{{.Architecture}}', 'localhost/multi:v1'])).stdout.trim()).toBe('amd64');
  }, 300_000);

  test('each architecture\'s workdir goes on alone: osb image --workdir WORKDIR/aarch64 knows its arch', () => {
    const r = osb(['config', '--workdir', join(wd, 'aarch64')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^--arch\s+aarch64\s+workdir$/m);
    expect(r.stdout).toMatch(new RegExp(`^--cache-dir\\s+${join(TEST_CACHE, 'osb-cache')}\\s+workdir$`, 'm'));
    expect(realpathSync(join(wd, 'aarch64', 'rootfs'))).toBe(join(realpathSync(wd), 'aarch64', 'rootfs'));
  });
});

describe('osb publish --arch x86_64,aarch64 --publish-s3 (Swift s3api)', () => {
  let swift: Swift;
  let s3: S3Client;
  beforeAll(async () => {
    swift = await startSwift(tempDir('osb-multi-swift-'));
    s3 = s3ClientOf(swift);
    await s3.send(new CreateBucketCommand({ Bucket: 'boot' }));
  }, 120_000);
  afterAll(async () => {
    s3?.destroy();
    await swift?.stop();
  });

  test("each architecture's initrd, built in its workdir, goes under NAME/TAG/ARCH/; the aarch64 one holds an aarch64 /sbin/init", async () => {
    const r = await osbAsync(['publish', '--arch', 'x86_64,arm64', '--workdir', wd, '--publish-s3', swift.endpoint, '--s3-bucket', 'boot', '--s3-artifacts', 'initrd', '--tag', 'v1'], cleanEnv({ S3_ACCESS: swift.access, S3_SECRET: swift.secret }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: 'boot' }))).Contents ?? []).map((o) => o.Key).filter((k) => k?.endsWith('initrd.img'));
    expect(keys.sort()).toEqual(['multi/v1/aarch64/initrd.img', 'multi/v1/x86_64/initrd.img']);
    for (const arch of ['x86_64', 'aarch64']) {
      const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'boot', Key: `multi/v1/${arch}/initrd.img` }))).Body!.transformToByteArray());
      expect(got.equals(readFileSync(join(wd, arch, 'osb-initrd.img')))).toBe(true);
    }
    // GNU cpio reads the arm64 archive back; its agent is an aarch64 program.
    const x = tempDir('osb-multi-cpio-');
    execFileSync('sh', ['-c', `zstd -dc '${join(wd, 'aarch64', 'osb-initrd.img')}' | cpio -idm --quiet sbin/init usr/bin/dash`], { cwd: x });
    expect(execFileSync('file', [join(x, 'usr', 'bin', 'dash')], { encoding: 'utf8' })).toMatch(/ARM aarch64/);
  }, 600_000);
});

describe('osb clean of a multi-architecture workdir', () => {
  test("cleans each architecture's workdir as well, and keeps the records and the cache", () => {
    const r = osb(['clean', '--workdir', wd]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const arch of ['x86_64', 'aarch64']) {
      expect(readdirSync(join(wd, arch)).sort()).toEqual(['.osb', '.osb-owned']);
      expect(readdirSync(join(wd, arch, '.osb'))).toEqual(['config.json']);
    }
    expect(existsSync(join(wd, 'osb-oci'))).toBe(false);
    expect(existsSync(join(TEST_CACHE, 'osb-cache', 'base'))).toBe(true);
  });
});

describe('a list of architectures where one is wanted', () => {
  test.each([
    [['image'], /^osb: osb image takes one architecture; --arch x86_64,aarch64 is a list \(from flag --arch\), which only osb oci and osb publish take$/],
    [['boot'], /^osb: osb boot takes one architecture;/],
    [['kata-config'], /^osb: osb kata-config takes one architecture;/],
    [['oci', '--rootfs-dir', '/nonexistent'], /^osb: --rootfs-dir names one tree, which cannot be the rootfs of x86_64 and aarch64$/],
    [['publish', '--publish-s3', 'http://127.0.0.1:9', '--s3-bucket', 'boot', '--s3-layout', 'image-build'], /^osb: --s3-layout image-build names its objects without the architecture, so the x86_64 and aarch64 artefacts would replace each other$/],
  ])('osb %j --arch x86_64,aarch64: one line, exit 2, nothing written', (args, line) => {
    const w = join(tempDir('osb-multi-refuse-'), 'wd');
    const r = osb([...args, '--arch', 'x86_64,aarch64', '--workdir', w], { env: cleanEnv({ S3_ACCESS: 'a', S3_SECRET: 'b' }) });
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toMatch(line);
    expect(existsSync(w)).toBe(false);
  });

  test('a dry run plans each architecture, its S3 objects under NAME/TAG/ARCH/, and writes nothing', () => {
    const w = join(tempDir('osb-multi-dry-'), 'wd');
    const r = osb(['publish', '--arch', 'x86_64,aarch64', '--agent-init', '--workdir', w, '--publish-s3', 'http://127.0.0.1:9', '--s3-bucket', 'boot', '--s3-artifacts', 'initrd', '--dry-run'], { env: cleanEnv({ S3_ACCESS: 'a', S3_SECRET: 'b' }) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const arch of ['x86_64', 'aarch64']) {
      expect(r.stdout).toContain(`${arch} (${join(w, arch)}):\n`);
      expect(r.stdout).toContain(`would upload initrd.img and index.json to http://127.0.0.1:9 s3://boot/osb/latest/${arch}/`);
    }
    expect(existsSync(w)).toBe(false);
  });

  test('an architecture named twice is one line', () => {
    const r = osb(['oci', '--arch', 'x86_64,amd64', '--workdir', tempDir('osb-multi-twice-')]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toMatch(/--arch 'x86_64,amd64' names x86_64 twice$/);
  });
});
