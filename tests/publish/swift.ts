/**
 * OpenStack Swift with its s3api middleware, from Debian's packages, as the tests' S3 server: it
 * checks SigV4 signatures (the npm fake servers do not). One-replica rings on 127.0.0.1 and a
 * tempauth user, all under a temporary directory (OCI-NOTES §4).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { freePort, pexec } from './servers.js';

export interface Swift {
  readonly endpoint: string;
  readonly access: string;
  readonly secret: string;
  stop(): Promise<void>;
}

/** A client of the server's s3api, signing as its tempauth user, with the checksums Swift takes. */
export function s3ClientOf(swift: Swift): S3Client {
  return new S3Client({ endpoint: swift.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: swift.access, secretAccessKey: swift.secret }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

export async function startSwift(dir: string): Promise<Swift> {
  const [proxy, object, container, account] = [await freePort(), await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, 'srv', 'd1'), { recursive: true });
  writeFileSync(join(dir, 'swift.conf'), '[swift-hash]\nswift_hash_path_suffix = osbtest\nswift_hash_path_prefix = osbtest\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n');
  await Promise.all(
    ([['object', object], ['container', container], ['account', account]] as const).map(async ([kind, port]) => {
      const b = join(dir, `${kind}.builder`);
      await pexec('swift-ring-builder', [b, 'create', '4', '1', '0'], { cwd: dir });
      await pexec('swift-ring-builder', [b, 'add', `r1z1-127.0.0.1:${port}/d1`, '100'], { cwd: dir });
      // rebalance exits 1 with a warning on a one-device ring: it still writes the ring.
      await pexec('swift-ring-builder', [b, 'rebalance'], { cwd: dir }).catch(() => undefined);
    }),
  );
  const common = (port: number) => `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${port}\ndevices = ${join(dir, 'srv')}\nmount_check = false\nswift_dir = ${dir}\nworkers = 0\nlog_level = WARNING\n`;
  for (const [kind, port] of [['object', object], ['container', container], ['account', account]] as const) {
    writeFileSync(join(dir, `${kind}-server.conf`), `${common(port)}\n[pipeline:main]\npipeline = ${kind}-server\n\n[app:${kind}-server]\nuse = egg:swift#${kind}\n`);
  }
  const filters = ['catch_errors', 'gatekeeper', 'healthcheck', 'proxy-logging', 'cache', 'listing_formats', 's3api', 'tempauth', 'copy', 'slo', 'dlo'];
  const egg: Record<string, string> = { 'proxy-logging': 'proxy_logging', cache: 'memcache' };
  writeFileSync(
    join(dir, 'proxy-server.conf'),
    `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${proxy}\nswift_dir = ${dir}\nworkers = 0\nlog_level = WARNING\n\n` +
      `[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server\n\n` +
      `[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n\n` +
      filters.map((f) => `[filter:${f}]\nuse = egg:swift#${egg[f] ?? f}\n${f === 'tempauth' ? 'user_test_tester = testing .admin\n' : ''}`).join('\n'),
  );
  const children: ChildProcess[] = [];
  let err = '';
  for (const kind of ['object', 'container', 'account', 'proxy']) {
    const c = spawn(`swift-${kind}-server`, [join(dir, `${kind}-server.conf`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    children.push(c);
  }
  const endpoint = `http://127.0.0.1:${proxy}`;
  const stop = async () => {
    await Promise.all(children.filter((c) => c.exitCode === null).map((c) => new Promise((r) => (c.once('exit', r), c.kill('SIGTERM')))));
  };
  // The proxy's /healthcheck answers before the object, container and account servers listen
  // (then Swift answers 503 "Please reduce your request rate"): wait for all four.
  const up = async (url: string) => (await pexec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url]).catch(() => undefined))?.stdout;
  for (let i = 0; i < 240; i++) {
    const codes = await Promise.all([`${endpoint}/healthcheck`, ...[object, container, account].map((p) => `http://127.0.0.1:${p}/`)].map(up));
    if (codes.every((c) => c && c !== '000')) return { endpoint, access: 'test:tester', secret: 'testing', stop };
    if (children.some((c) => c.exitCode !== null)) break;
    await sleep(250);
  }
  await stop();
  throw new Error(`swift did not come up: ${err}`);
}
