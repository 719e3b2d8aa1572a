/**
 * osb publish --publish-s3 against a real Swift + s3api (signatures checked): the boot artefacts
 * read back with matching sha256, a 12 MiB kernel goes up in multipart, a wrong secret gives one
 * line naming 403 SignatureDoesNotMatch and nothing is reported as published.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { osbAsync, pexec } from './servers.js';
import { s3ClientOf, startSwift, type Swift } from './swift.js';

let swift: Swift;
let s3: S3Client;
let rootfs: string;
let wd: string;
let kernel: string;

beforeAll(async () => {
  swift = await startSwift(tempDir('osb-swift-'));
  s3 = s3ClientOf(swift);
  await s3.send(new CreateBucketCommand({ Bucket: 'boot' }));
  rootfs = makeFixtureRootfs(join(tempDir('osb-s3-'), 'rootfs'));
  wd = tempDir('osb-s3-wd-');
  for (const t of ['squashfs', 'initrd']) {
    const r = osb([t, '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--agent-init']);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  kernel = join(wd, 'vmlinuz-test');
  await pexec('sh', ['-c', `head -c ${12 * 1024 * 1024} /dev/urandom > '${kernel}'`]);
}, 300_000);

afterAll(async () => {
  s3?.destroy();
  await swift?.stop();
  removeTempDirs();
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
async function get(key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: 'boot', Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}
const args = (...more: string[]) => ['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/guest:1', '--publish-s3', swift.endpoint, '--s3-bucket', 'boot', '--s3-artifacts', 'squashfs,kernel,initrd', '--kernel', kernel, '--arch', 'x86_64', ...more];

describe('osb publish to S3 (Swift s3api)', () => {
  test('objects under PREFIX NAME/TAG/ARCH/ read back with the sha256 of the local files; the 12 MiB kernel in multipart', async () => {
    const r = await osbAsync(args('--s3-prefix', 'images/', '--tag', 'v1', '--tag', 'stable'), cleanEnv({ S3_ACCESS: swift.access, S3_SECRET: swift.secret }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const local: Record<string, string> = { 'rootfs.squashfs': join(wd, 'osb.squashfs'), vmlinuz: kernel, 'initrd.img': join(wd, 'osb-initrd.img') };
    for (const tag of ['v1', 'stable']) {
      const base = `images/guest/${tag}/x86_64/`;
      expect(r.stdout).toContain(`published rootfs.squashfs, vmlinuz, initrd.img to s3://boot/${base} (${swift.endpoint})`);
      const index = JSON.parse((await get(`${base}index.json`)).toString('utf8'));
      expect(index).toMatchObject({ name: 'guest', tag, arch: 'x86_64' });
      for (const [name, path] of Object.entries(local)) {
        const want = sha(readFileSync(path));
        expect(sha(await get(base + name))).toBe(want);
        expect(index.files[name]).toEqual({ sha256: want, size: readFileSync(path).length });
      }
      expect((await get(`${base}SHA256SUMS`)).toString()).toContain(`${sha(readFileSync(kernel))}  vmlinuz\n`);
      // S3's multipart ETag: md5 of the part md5s, then -<parts>.
      expect((await s3.send(new HeadObjectCommand({ Bucket: 'boot', Key: `${base}vmlinuz` }))).ETag).toMatch(/-3"$/);
    }
  }, 300_000);

  test('with --sign-key, the DSSE envelopes of the initrd and the squashfs go beside them and into the index; osb verify accepts what S3 gives back', async () => {
    const keys = tempDir('osb-s3-keys-');
    expect(osb(['keygen'], { cwd: keys, env: cleanEnv({ OSB_SIGN_PASSWORD: '' }) }).code).toBe(0);
    const r = await osbAsync(args('--tag', 'signed', '--s3-prefix=', '--s3-artifacts', 'initrd', '--sign-key', join(keys, 'cosign.key')), cleanEnv({ S3_ACCESS: swift.access, S3_SECRET: swift.secret, OSB_SIGN_PASSWORD: '' }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const base = 'guest/signed/x86_64/';
    const names = ['initrd.img', 'initrd.img.intoto.dsse.json', 'initrd.img.spdx.dsse.json'];
    // The squashfs osb built gets its provenance, signed; the --kernel file osb did not build, none.
    expect(Object.keys(JSON.parse((await get(`${base}index.json`)).toString('utf8')).files).sort()).toEqual([...names, 'rootfs.squashfs', 'rootfs.squashfs.intoto.dsse.json', 'vmlinuz']);
    // What a network-boot consumer downloads.
    const back = tempDir('osb-s3-back-');
    const { writeFileSync } = await import('node:fs');
    for (const n of [...names, 'rootfs.squashfs', 'rootfs.squashfs.intoto.dsse.json']) writeFileSync(join(back, n), await get(base + n));
    const sq = osb(['verify', join(back, 'rootfs.squashfs'), '--key', join(keys, 'cosign.pub')]);
    expect(sq.stderr).toBe('');
    expect(sq.stdout).toMatch(/^verified .*rootfs\.squashfs \(sha256:[0-9a-f]{64}\) with .*: https:\/\/slsa\.dev\/provenance\/v1\n$/);
    const v = osb(['verify', join(back, 'initrd.img'), '--key', join(keys, 'cosign.pub')]);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/^verified .*: https:\/\/slsa\.dev\/provenance\/v1, https:\/\/spdx\.dev\/Document\n$/);
  }, 120_000);

  test('AWS_* credentials work too', async () => {
    const r = await osbAsync(args('--tag', 'aws', '--s3-prefix=', '--s3-artifacts', 'initrd'), cleanEnv({ AWS_ACCESS_KEY_ID: swift.access, AWS_SECRET_ACCESS_KEY: swift.secret }));
    expect(r.code).toBe(0);
    expect(sha(await get('guest/aws/x86_64/initrd.img'))).toBe(sha(readFileSync(join(wd, 'osb-initrd.img'))));
  }, 120_000);

  test('a wrong secret: one line naming 403 SignatureDoesNotMatch, nothing reported as published, no index', async () => {
    const r = await osbAsync(args('--tag', 'bad', '--s3-prefix='), cleanEnv({ S3_ACCESS: swift.access, S3_SECRET: 'wrong' }));
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('osb: ') && !l.startsWith('osb: hint:'))).toHaveLength(1);
    expect(errorLine(r.stderr)).toMatch(/^osb: (publish failed: )?S3 upload of guest\/bad\/x86_64\/rootfs\.squashfs failed: 403 SignatureDoesNotMatch/);
    expect(r.stdout + r.stderr).not.toMatch(/published/);
    await expect(get('guest/bad/x86_64/index.json')).rejects.toThrow(/NoSuchKey|not exist|404/i);
  }, 120_000);

  test('--dry-run uploads nothing', async () => {
    const r = await osbAsync(args('--tag', 'dry', '--s3-prefix=', '--dry-run'), cleanEnv({ S3_ACCESS: swift.access, S3_SECRET: swift.secret }));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`would upload rootfs.squashfs, vmlinuz, initrd.img and index.json to ${swift.endpoint} s3://boot/guest/dry/x86_64/`);
    await expect(get('guest/dry/x86_64/rootfs.squashfs')).rejects.toThrow(/NoSuchKey|not exist|404/i);
  }, 120_000);

  test('without credentials or bucket: one line, exit 2', () => {
    const r = osb(args('--tag', 'x', '--s3-prefix='), { env: cleanEnv({ S3_ACCESS: '', S3_SECRET: '', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }) });
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe('osb: --publish-s3 needs credentials');
  });
});
