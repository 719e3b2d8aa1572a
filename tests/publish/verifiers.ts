/**
 * The sigstore verifiers of the signing tests: Debian 13's podman and skopeo (Debian 12's are
 * built with sigstore disabled; .ci/debian13-verifiers brings them), each run in a mount
 * namespace with a private /etc/containers whose policy requires a key's signature on the test
 * registry and whose registries.d reads sigstore attachments there. The host's files stay as
 * they are.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/build-context.js';

const run = promisify(execFile);
export const TOOLS = join(process.env.OSB_TEST_CACHE ?? '/var/cache/osb-test', 'debian13', 'current');
export const SKOPEO = join(TOOLS, 'bin', 'skopeo');
export const PODMAN = join(TOOLS, 'bin', 'podman');

export function requireVerifiers(): void {
  for (const t of [SKOPEO, PODMAN]) if (!existsSync(t)) throw new Error(`${t} is missing: run .ci/setup (it runs .ci/debian13-verifiers)`);
}

/** A private /etc/containers: the policy requiring `pub`'s signature on `host`, registries.d reading sigstore attachments there. */
export function containersEtc(host: string, pub: string): string {
  const etc = tempDir('osb-etc-containers-');
  mkdirSync(join(etc, 'registries.d'));
  writeFileSync(join(etc, 'policy.json'), JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [host]: [{ type: 'sigstoreSigned', keyPath: pub, signedIdentity: { type: 'matchRepoDigestOrExact' } }] }, oci: { '': [{ type: 'insecureAcceptAnything' }] } } }));
  writeFileSync(join(etc, 'registries.d', 'osb-test.yaml'), `docker:\n  ${host}:\n    use-sigstore-attachments: true\n`);
  writeFileSync(join(etc, 'containers.conf'), `[engine]\nhelper_binaries_dir = ["${join(TOOLS, 'root', 'usr', 'lib', 'podman')}"]\n`);
  if (existsSync('/etc/containers/registries.conf')) copyFileSync('/etc/containers/registries.conf', join(etc, 'registries.conf'));
  return etc;
}

/**
 * Pull `ref` (HOST/REPO:TAG) with podman, or copy it with skopeo, under that policy; `then` runs
 * after a podman pull in the same namespace, with $PODMAN the podman of this store (its stdout
 * is returned).
 */
export async function consumer(tool: 'podman' | 'skopeo', host: string, ref: string, pub: string, o: { arch?: string; then?: string } = {}): Promise<{ ok: boolean; err: string; out: string }> {
  const etc = containersEtc(host, pub);
  const store = tempDir('osb-podman-store-');
  const podman = `${PODMAN} --root ${store}/root --runroot ${store}/run --storage-driver vfs`;
  const arch = o.arch ? (tool === 'podman' ? ` --arch ${o.arch}` : ` --override-arch ${o.arch}`) : '';
  const cmd =
    tool === 'podman'
      ? `${podman} pull${arch} --tls-verify=false docker://${ref}${o.then ? ` && PODMAN='${podman}' && ${o.then}` : ''}`
      : `${SKOPEO}${arch} copy --remove-signatures --src-tls-verify=false docker://${ref} oci:${store}/out:x`;
  try {
    const r = await run('unshare', ['-m', 'sh', '-c', `mount --bind ${etc} /etc/containers && ${cmd}`], { env: { ...process.env, PODMAN_IGNORE_CGROUPSV1_WARNING: '1' }, maxBuffer: 1 << 24 });
    return { ok: true, err: '', out: r.stdout };
  } catch (e) {
    return { ok: false, err: String((e as { stderr?: string }).stderr ?? e), out: '' };
  }
}
