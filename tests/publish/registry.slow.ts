/**
 * osb publish to a real docker-registry (CNCF distribution 2.8) in its three setups: plain HTTP,
 * htpasswd + TLS from a self-signed CA, Bearer tokens from a token server. skopeo and podman are
 * the oracles: they must see the manifest digest of the local layout.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { cleanEnv, errorLine, OSB, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { localDigest, makeRegistry, osbAsync, pexec, PASSWORD, skopeoDigest, USER, type Registry, type RegistryMode } from './servers.js';

let rootfs: string;
let wd: string;
let layout: string;
const registries: Registry[] = [];

beforeAll(() => {
  rootfs = makeFixtureRootfs(join(tempDir('osb-publish-'), 'rootfs'));
  wd = tempDir('osb-publish-wd-');
  const r = osb(['oci', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/osb-test:1']);
  if (r.code !== 0) throw new Error(r.stderr);
  layout = join(wd, 'osb-oci');
}, 120_000);

afterAll(async () => {
  for (const r of registries) await r.stop();
  removeTempDirs();
});

async function registry(mode: RegistryMode): Promise<Registry> {
  const r = await makeRegistry(tempDir(`osb-registry-${mode}-`), mode);
  registries.push(r);
  return r;
}

/** Every setting the publish relies on, so the workdir's record of earlier runs does not leak in. */
const publishArgs = (reg: Registry, repo: string, ...more: string[]) => ['publish', '--no-deps', '--rootfs-dir', rootfs, '--workdir', wd, '--oci-ref', 'localhost/osb-test:1', '--publish-registry', `${reg.host}/${repo}`, ...more];

const oneErrorLine = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('osb: ') && !l.startsWith('osb: hint:'));

describe('osb publish to a registry', () => {
  test.each(['plain', 'htpasswd-tls', 'token'] as RegistryMode[])('%s: skopeo sees the local manifest digest under every tag; a second push uploads nothing', async (mode) => {
    const reg = await registry(mode);
    const r = await osbAsync([...publishArgs(reg, 'guests/osb', '--tag', 'v1', '--tag', 'latest'), ...reg.osbArgs]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pushed 127\.0\.0\.1:\d+\/guests\/osb:v1, :latest \(manifest sha256:[0-9a-f]{64}; blobs: 2 uploaded, 0 already there\)/);
    for (const tag of ['v1', 'latest']) expect(await skopeoDigest(reg, `guests/osb:${tag}`)).toBe(localDigest(layout));
    const again = await osbAsync([...publishArgs(reg, 'guests/osb', '--tag', 'v1'), ...reg.osbArgs]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/blobs: 0 uploaded, 2 already there/);
    // The workdir remembers the registry, never the credentials.
    const record = readFileSync(join(wd, '.osb', 'config.json'), 'utf8');
    expect(record).toContain(reg.host);
    expect(record).not.toContain(PASSWORD);
  }, 120_000);

  test('podman pulls what osb pushed (isolated store)', async () => {
    const reg = await registry('plain');
    expect((await osbAsync([...publishArgs(reg, 'osb/pull', '--tag', '7'), ...reg.osbArgs])).code).toBe(0);
    const store = tempDir('osb-podman-');
    const podman = ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs'];
    await pexec('podman', [...podman, 'pull', '--tls-verify=false', `docker://${reg.host}/osb/pull:7`], { maxBuffer: 1 << 24 });
    const { stdout } = await pexec('podman', [...podman, 'image', 'inspect', '--format', '{{.Digest}}', `${reg.host}/osb/pull:7`]);
    expect(stdout.trim()).toBe(localDigest(layout));
  }, 120_000);

  test('chunked upload, then a cross-repository mount', async () => {
    const reg = await registry('token');
    const a = await osbAsync([...publishArgs(reg, 'team/base', '--tag', 'c', '--registry-chunk-size', '256'), ...reg.osbArgs]);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(await skopeoDigest(reg, 'team/base:c')).toBe(localDigest(layout));
    const b = await osbAsync([...publishArgs(reg, 'team/child', '--tag', 'c', '--registry-mount-from', 'team/base'), ...reg.osbArgs]);
    expect(b.stderr).toBe('');
    expect(b.stdout).toMatch(/blobs: 0 uploaded, 0 already there, 2 mounted/);
    expect(await skopeoDigest(reg, 'team/child:c')).toBe(localDigest(layout));
  }, 120_000);

  test.each([
    ['htpasswd-tls', 'a wrong password', ['--creds', `${USER}:wrong`], /^osb: (publish failed: )?registry 127\.0\.0\.1:\d+ refused the credentials for osb\/x \(GET \/v2\/: 401 Unauthorized/],
    ['htpasswd-tls', 'no credentials', [], /^osb: (publish failed: )?registry 127\.0\.0\.1:\d+ refused the credentials for osb\/x \(authentication: 401 Unauthorized/],
    ['token', 'a wrong password', ['--creds', `${USER}:wrong`], /^osb: (publish failed: )?token server 127\.0\.0\.1:\d+ refused the credentials for osb\/x \(GET \/token: 401 Unauthorized\)/],
  ] as [RegistryMode, string, string[], RegExp][])('%s, %s: one line naming the 401, exit 1, no tag', async (mode, _what, creds, line) => {
    const reg = await registry(mode);
    const base = reg.osbArgs.filter((a, i, all) => a !== '--creds' && all[i - 1] !== '--creds');
    const r = await osbAsync([...publishArgs(reg, 'osb/x', '--tag', '1'), ...base, ...creds], cleanEnv({ HOME: tempDir() }));
    expect(r.code).toBe(1);
    expect(oneErrorLine(r.stderr)).toHaveLength(1);
    expect(errorLine(r.stderr)).toMatch(line);
    await expect(skopeoDigest(reg, 'osb/x:1')).rejects.toThrow(/manifest unknown|not found/i);
  }, 120_000);

  test('credentials from REGISTRY_AUTH_FILE and ~/.docker/config.json; TLS without the CA is refused in one line', async () => {
    const reg = await registry('htpasswd-tls');
    const home = tempDir('osb-home-');
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    const authFile = join(home, 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [`${reg.host}/osb`]: { auth } } }));
    const ca = ['--no-insecure-registry', '--registry-ca', reg.ca!];
    const r1 = await osbAsync([...publishArgs(reg, 'osb/a', '--tag', '1'), ...ca], cleanEnv({ HOME: home, REGISTRY_AUTH_FILE: authFile }));
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    mkdirSync(join(home, '.docker'));
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [`https://${reg.host}`]: { auth } } }));
    const r2 = await osbAsync([...publishArgs(reg, 'osb/b', '--tag', '1'), ...ca], cleanEnv({ HOME: home }));
    expect(r2.code).toBe(0);
    expect(await skopeoDigest(reg, 'osb/b:1')).toBe(localDigest(layout));
    // A workdir that never saw --registry-ca (the record would give it).
    const fresh = tempDir('osb-publish-noca-');
    await pexec('cp', ['-a', layout, join(fresh, 'osb-oci')]);
    const r3 = await osbAsync(['publish', '--no-deps', '--workdir', fresh, '--oci-ref', 'localhost/osb-test:1', '--publish-registry', `${reg.host}/osb/c`, '--tag', '1'], cleanEnv({ HOME: home }));
    expect(r3.code).toBe(1);
    expect(oneErrorLine(r3.stderr)).toHaveLength(1);
    expect(errorLine(r3.stderr)).toMatch(/^osb: (publish failed: )?TLS to 127\.0\.0\.1:\d+ failed: .*(self.signed|certificate)/i);
    expect(r3.stderr).toMatch(/--registry-ca/);
  }, 120_000);

  test('NODE_EXTRA_CA_CERTS naming the registry\'s CA trusts it without --registry-ca, with osb run as its bin (which defers the file to the first connection)', async () => {
    const reg = await registry('htpasswd-tls');
    const bundle = join(tempDir('osb-extra-ca-'), 'bundle.pem');
    writeFileSync(bundle, readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8') + readFileSync(reg.ca!, 'utf8'));
    const fresh = tempDir('osb-publish-extra-ca-');
    await pexec('cp', ['-a', layout, join(fresh, 'osb-oci')]);
    const args = (repo: string) => ['publish', '--no-deps', '--workdir', fresh, '--oci-ref', 'localhost/osb-test:1', '--publish-registry', `${reg.host}/${repo}`, '--tag', '1', '--no-insecure-registry', '--creds', `${USER}:${PASSWORD}`];
    // As `npx osb` runs it: the file itself, through its shell line, with this Node on PATH.
    const env = cleanEnv({ NODE_EXTRA_CA_CERTS: bundle, PATH: `${process.env.PATH}:${dirname(process.execPath)}` });
    const r = await pexec(OSB, args('osb/extra'), { env });
    expect(r.stderr).toBe('');
    expect(await skopeoDigest(reg, 'osb/extra:1')).toBe(localDigest(layout));
    // The same push with a bundle without that CA is refused: the file is what trusted it.
    writeFileSync(bundle, readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8'));
    const refused = await pexec(OSB, args('osb/extra2'), { env }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused.code).toBe(1);
    expect(errorLine(refused.stderr)).toMatch(/^osb: (publish failed: )?TLS to 127\.0\.0\.1:\d+ failed: .*(self.signed|certificate)/i);
  }, 120_000);

  test('--dry-run sends nothing', async () => {
    const reg = await registry('plain');
    const r = await osbAsync([...publishArgs(reg, 'osb/dry', '--tag', '1', '--dry-run'), ...reg.osbArgs]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would push \S+osb-oci to 127\.0\.0\.1:\d+\/osb\/dry as 1/);
    await expect(skopeoDigest(reg, 'osb/dry:1')).rejects.toThrow(/manifest unknown|not found/i);
  }, 60_000);
});

describe('the registry dies in the middle of a push', () => {
  let bigWd: string;
  let bigLayout: string;
  beforeAll(async () => {
    const big = makeFixtureRootfs(join(tempDir('osb-publish-big-'), 'rootfs'));
    // Incompressible, so the layer upload takes long enough to be caught in the middle.
    await pexec('sh', ['-c', `head -c 120000000 /dev/urandom > '${join(big, 'var/lib/data/blob')}'`]);
    bigWd = tempDir('osb-publish-bigwd-');
    const r = osb(['oci', '--no-deps', '--rootfs-dir', big, '--workdir', bigWd, '--oci-ref', 'localhost/osb-big:1']);
    if (r.code !== 0) throw new Error(r.stderr);
    bigLayout = join(bigWd, 'osb-oci');
  }, 300_000);

  const args = (reg: Registry, ...more: string[]) => ['publish', '--no-deps', '--workdir', bigWd, '--oci-ref', 'localhost/osb-big:1', '--publish-registry', `${reg.host}/osb/big`, '--tag', '1', ...reg.osbArgs, ...more];

  /** Resolves once the registry holds some bytes of an upload in progress. */
  async function uploadStarted(reg: Registry): Promise<void> {
    const { readdirSync, statSync, existsSync } = await import('node:fs');
    const uploads = join(reg.storage, 'docker/registry/v2/repositories/osb/big/_uploads');
    for (let i = 0; i < 6000; i++) {
      if (existsSync(uploads)) for (const u of readdirSync(uploads)) if ((statSync(join(uploads, u, 'data'), { throwIfNoEntry: false })?.size ?? 0) > 1_000_000) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('no upload seen');
  }

  test('killed and back within the retries: osb retries, the tag points at the complete image', async () => {
    const reg = await registry('plain');
    const run = osbAsync(args(reg));
    await uploadStarted(reg);
    reg.kill();
    await new Promise((r) => setTimeout(r, 300));
    await reg.start();
    const r = await run;
    // A failure shows osb's output: its retry lines say what it saw.
    if (r.code !== 0) throw new Error(`osb publish exited ${r.code}:\n${r.stdout}${r.stderr}`);
    expect(r.stdout + r.stderr).toMatch(/connection to 127\.0\.0\.1:\d+ (dropped|failed) during .*; retrying \d+ more times? \(next in 0\.5 s\)/);
    expect(await skopeoDigest(reg, 'osb/big:1')).toBe(localDigest(bigLayout));
    // Every blob the manifest names is there: skopeo copies the whole image back.
    await pexec('skopeo', ['copy', ...reg.toolArgs.map((a) => a.replace('--tls-verify', '--src-tls-verify')), `docker://${reg.host}/osb/big:1`, `oci:${join(tempDir(), 'back')}:1`], { maxBuffer: 1 << 24 });
  }, 300_000);

  test('a blob the registry answers 500 for (its link left empty, as a kill mid-commit leaves it): osb uploads it again, and the registry serves it after', async () => {
    const reg = await registry('plain');
    const first = await osbAsync([...publishArgs(reg, 'crashed/osb', '--tag', '1'), ...reg.osbArgs]);
    expect(first.code).toBe(0);
    // What the registry keeps of one layer in this repository: a link file naming its digest.
    const layers = join(reg.storage, 'docker/registry/v2/repositories/crashed/osb/_layers/sha256');
    const hex = readdirSync(layers)[0]!;
    writeFileSync(join(layers, hex, 'link'), '');
    const head = () => fetch(`http://${reg.host}/v2/crashed/osb/blobs/sha256:${hex}`, { method: 'HEAD' }).then((r) => r.status);
    expect(await head()).toBe(500);
    const again = await osbAsync([...publishArgs(reg, 'crashed/osb', '--tag', '2'), ...reg.osbArgs]);
    if (again.code !== 0) throw new Error(`osb publish exited ${again.code}:\n${again.stdout}${again.stderr}`);
    expect(again.stdout).toMatch(/blobs: 1 uploaded, 1 already there/);
    expect(await head()).toBe(200);
    expect(await skopeoDigest(reg, 'crashed/osb:2')).toBe(localDigest(layout));
  }, 120_000);

  test('killed for good: one line, exit 1, and after a restart the tag does not exist', async () => {
    const reg = await registry('plain');
    const run = osbAsync(args(reg, '--registry-retries', '1'));
    await uploadStarted(reg);
    reg.kill();
    const r = await run;
    expect(r.code).toBe(1);
    expect(oneErrorLine(r.stderr)).toHaveLength(1);
    expect(errorLine(r.stderr)).toMatch(/^osb: (publish failed: )?connection to 127\.0\.0\.1:\d+ failed during (HEAD|POST|PUT) .*ECONNREFUSED \(gave up after 2 attempts\)/);
    await reg.start();
    await expect(skopeoDigest(reg, 'osb/big:1')).rejects.toThrow(/manifest unknown|not found/i);
  }, 300_000);
});
