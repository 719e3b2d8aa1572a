/**
 * Real servers for the publish tests: Debian's docker-registry (CNCF distribution 2.8) in three
 * setups (plain HTTP, htpasswd + TLS from a self-signed CA, Bearer tokens from a token server
 * run here), started on 127.0.0.1 and stopped by the tests. See ../shared/OCI-NOTES.md §2.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSign, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { OSB, cleanEnv, type OsbResult } from '../helpers/cli.js';

export const pexec = promisify(execFile);
export const USER = 'ci';
export const PASSWORD = 'pa:ss word';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** osb, run without blocking this process (the token server answers from it). */
export function osbAsync(args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv(), onStart?: (c: ChildProcess) => void): Promise<OsbResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [OSB, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
    onStart?.(c);
  });
}

export type RegistryMode = 'plain' | 'htpasswd-tls' | 'token';

export interface Registry {
  readonly mode: RegistryMode;
  readonly host: string;
  readonly dir: string;
  readonly storage: string;
  /** PEM of the CA (the self-signed certificate) for --registry-ca; a directory with ca.crt for skopeo/podman. */
  readonly ca?: string;
  readonly certDir?: string;
  /** osb flags to reach it with the right credentials. */
  readonly osbArgs: string[];
  /** skopeo/podman flags to reach it. */
  readonly toolArgs: string[];
  start(): Promise<void>;
  kill(): void;
  stop(): Promise<void>;
}

async function makeCert(dir: string): Promise<{ cert: string; key: string }> {
  const c = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  await pexec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', c.key, '-out', c.cert]);
  return c;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** A token server as Docker Hub's: Basic credentials in, an RS256 JWT with x5c out. */
async function startTokenServer(dir: string, issuer: string, service: string): Promise<{ url: string; close: () => Promise<void>; cert: string }> {
  const { cert, key } = await makeCert(dir);
  const der = new X509Certificate(readFileSync(cert)).raw;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    const [user, ...pw] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
    if (user !== USER || pw.join(':') !== PASSWORD) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = u.searchParams.getAll('scope').map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: user, aud: u.searchParams.get('service') ?? service, exp: now + 600, nbf: now - 10, iat: now, jti: String(Math.random()), access }));
    const sig = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(readFileSync(key));
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${b64url(sig)}` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, cert, close: () => new Promise((r) => server.close(() => r())) };
}

export async function makeRegistry(dir: string, mode: RegistryMode): Promise<Registry> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const storage = join(dir, 'data');
  const lines = ['version: 0.1', 'log: {level: warn, accesslog: {disabled: true}}', `storage: {filesystem: {rootdirectory: ${storage}}, delete: {enabled: true}}`];
  let osbArgs: string[] = ['--insecure-registry'];
  let toolArgs: string[] = ['--tls-verify=false'];
  let ca: string | undefined;
  let certDir: string | undefined;
  let closeToken: (() => Promise<void>) | undefined;
  if (mode === 'htpasswd-tls') {
    const { cert, key } = await makeCert(dir);
    ca = cert;
    certDir = join(dir, 'certs.d');
    mkdirSync(certDir);
    copyFileSync(cert, join(certDir, 'ca.crt'));
    writeFileSync(join(dir, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASSWORD, 10)}\n`);
    lines.push(`http: {addr: ${host}, secret: osb-test-secret, tls: {certificate: ${cert}, key: ${key}}}`, `auth: {htpasswd: {realm: osb-test, path: ${join(dir, 'htpasswd')}}}`);
    osbArgs = ['--no-insecure-registry', '--registry-ca', cert, '--creds', `${USER}:${PASSWORD}`];
    toolArgs = ['--cert-dir', certDir, '--creds', `${USER}:${PASSWORD}`];
  } else if (mode === 'token') {
    const t = await startTokenServer(join(dir), 'osb-test-issuer', 'osb-test');
    closeToken = t.close;
    lines.push(`http: {addr: ${host}, secret: osb-test-secret}`, `auth: {token: {realm: "${t.url}", service: osb-test, issuer: osb-test-issuer, rootcertbundle: ${t.cert}}}`);
    osbArgs = ['--insecure-registry', '--creds', `${USER}:${PASSWORD}`];
    toolArgs = ['--tls-verify=false', '--creds', `${USER}:${PASSWORD}`];
  } else {
    lines.push(`http: {addr: ${host}, secret: osb-test-secret}`);
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, lines.join('\n') + '\n');
  let child: ChildProcess | undefined;
  const scheme = mode === 'htpasswd-tls' ? 'https' : 'http';
  const reg: Registry = {
    mode, host, dir, storage, ca, certDir, osbArgs, toolArgs,
    async start() {
      child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      for (let i = 0; i < 200; i++) {
        try {
          await pexec('curl', ['-s', '-k', '-o', '/dev/null', `${scheme}://${host}/v2/`]);
          return;
        } catch {
          if (child.exitCode !== null) throw new Error(`docker-registry exited: ${err}`);
          await sleep(25);
        }
      }
      throw new Error(`docker-registry did not answer on ${host}: ${err}`);
    },
    kill() {
      child?.kill('SIGKILL');
    },
    async stop() {
      if (child && child.exitCode === null) {
        const gone = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      await closeToken?.();
      closeToken = undefined;
    },
  };
  await reg.start();
  return reg;
}

/** The manifest digest `skopeo inspect` sees for docker://HOST/REPO:TAG. */
export async function remoteDigest(reg: Registry, ref: string): Promise<string> {
  const { stdout } = await pexec('skopeo', ['inspect', ...reg.toolArgs, '--raw', `docker://${reg.host}/${ref}`], { maxBuffer: 1 << 24 });
  const { createHash } = await import('node:crypto');
  return `sha256:${createHash('sha256').update(stdout).digest('hex')}`;
}

export async function skopeoDigest(reg: Registry, ref: string): Promise<string> {
  const { stdout } = await pexec('skopeo', ['inspect', ...reg.toolArgs, `docker://${reg.host}/${ref}`], { maxBuffer: 1 << 24 });
  return (JSON.parse(stdout) as { Digest: string }).Digest;
}

/** The manifest digest of the local layout (index.json's first entry). */
export function localDigest(layout: string): string {
  return (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest;
}
