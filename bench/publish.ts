/**
 * osb publish of the Debian OCI image against `skopeo copy oci:... docker://...`, to the same
 * docker-registry on 127.0.0.1, in the same run.
 *   npm run bench -- publish
 * Goal (issue 14): `osb publish` at most 1.0x skopeo copy. Each run pushes to a registry with
 * empty storage, so every blob is uploaded: neither tool can skip one with HEAD, and skopeo cannot
 * mount it from the repository its blob-info cache remembers from the run before. Runs alternate.
 * A third command, bench/node-push.ts (POST and PUT of each blob with node:http, nothing else), is
 * the floor for any Node.js client on this machine: Node's own start-up against skopeo's.
 * Goal (issue 26): `osb publish --sign-key` at most 1.1x `osb publish` of the same image.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXTRA_CA_SET } from './first-tool.js';
import { median, perRoundRatio, timeShell, OSB, OSB_VIA_NODE, type BenchRow } from './lib.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function benchPublish(rootfs: string, runs: number): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'osb-bench-publish-'));
  const host = `127.0.0.1:${await freePort()}`;
  const config = join(work, 'registry.yml');
  writeFileSync(config, `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${join(work, 'data')}}}\nhttp: {addr: ${host}, secret: bench}\n`);
  let registry: ChildProcess = spawn('true', { stdio: 'ignore' });
  /** A registry with empty storage on the same address (not timed). */
  const fresh = async () => {
    if (registry.exitCode === null) await new Promise((r) => (registry.once('exit', r), registry.kill('SIGTERM')));
    rmSync(join(work, 'data'), { recursive: true, force: true });
    registry = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      try {
        execFileSync('curl', ['-sf', '-o', '/dev/null', `http://${host}/v2/`]);
        return;
      } catch {
        if (i > 200) throw new Error('docker-registry did not start');
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  };
  try {
    const wd = join(work, 'wd');
    execFileSync('sh', ['-c', `${OSB} oci --no-deps --rootfs-dir ${q(rootfs)} --workdir ${q(wd)} --oci-ref localhost/osb:bench > /dev/null`], { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
    const layerBytes = statSync(join(wd, 'osb-oci.tar')).size;
    const osbTimes: number[] = [];
    const dryTimes: number[] = [];
    const skopeoTimes: number[] = [];
    const floorTimes: number[] = [];
    const signedTimes: number[] = [];
    const viaNodeTimes: number[] = [];
    // A key as `osb keygen` writes it (scrypt N=2^15 to open, as cosign's).
    const keyDir = join(work, 'keys');
    execFileSync('sh', ['-c', `mkdir -p ${q(keyDir)} && cd ${q(keyDir)} && ${OSB} keygen > /dev/null`], { env: { ...process.env, OSB_SIGN_PASSWORD: 'bench' } });
    for (let i = 0; i < runs; i++) {
      await fresh();
      skopeoTimes.push(timeShell(`skopeo copy --quiet --dest-tls-verify=false oci:${q(join(wd, 'osb-oci'))}:localhost/osb:bench docker://${host}/skopeo/r${i}:1`).seconds);
      await fresh();
      floorTimes.push(timeShell(`${process.execPath} ${q(join(HERE, 'node-push.js'))} ${q(join(wd, 'osb-oci'))} ${host} floor/r${i} 1`).seconds);
      await fresh();
      const publishTo = (repo: string, cli = OSB) => `${cli} publish --no-deps --workdir ${q(wd)} --oci-ref localhost/osb:bench --publish-registry ${host}/${repo}/r${i} --tag 1 --insecure-registry`;
      const publish = publishTo('osb');
      osbTimes.push(timeShell(`${publish} > /dev/null`).seconds);
      // osb's start-up and plan, which every osb command pays: the same command, sending nothing.
      dryTimes.push(timeShell(`${publish} --dry-run > /dev/null`).seconds);
      await fresh();
      // The same push, then the signature and the SBOM and provenance attestations (cosign's tags).
      signedTimes.push(timeShell(`OSB_SIGN_PASSWORD=bench ${publishTo('signed')} --sign-key ${q(join(keyDir, 'cosign.key'))} > /dev/null`).seconds);
      if (EXTRA_CA_SET) {
        await fresh();
        viaNodeTimes.push(timeShell(`${publishTo('node', OSB_VIA_NODE)} > /dev/null`).seconds);
      }
    }
    const s = median(skopeoTimes);
    const o = median(osbTimes);
    return [
      { name: 'skopeo copy oci: docker:// (Debian image, empty registry)', median: s, runs, extra: `oci-archive ${(layerBytes / 1e6).toFixed(1)} MB` },
      { name: 'osb publish --publish-registry (same image, empty registry)', median: o, runs, baseline: 'skopeo copy', baselineMedian: s, goal: '<= 1.0x', extra: perRoundRatio(osbTimes, skopeoTimes) },
      { name: 'bare Node.js push: POST and PUT per blob, nothing else (the floor for a Node.js client)', median: median(floorTimes), runs, baseline: 'skopeo copy', baselineMedian: s, extra: perRoundRatio(floorTimes, skopeoTimes) },
      { name: 'osb publish --sign-key (same push, then the cosign signature and 2 attestations)', median: median(signedTimes), runs, baseline: 'osb publish', baselineMedian: o, goal: '<= 1.1x', extra: perRoundRatio(signedTimes, osbTimes) },
      { name: 'osb publish --dry-run (start-up and plan, nothing sent)', median: median(dryTimes), runs, extra: `the push itself: about ${(o - median(dryTimes)).toFixed(3)} s` },
      ...(viaNodeTimes.length ? [{ name: 'osb publish, run as `node main.cjs`: Node parses this machine\'s NODE_EXTRA_CA_CERTS at its start', median: median(viaNodeTimes), runs, baseline: 'skopeo copy', baselineMedian: s, extra: perRoundRatio(viaNodeTimes, skopeoTimes) }] : []),
    ];
  } finally {
    registry.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}
