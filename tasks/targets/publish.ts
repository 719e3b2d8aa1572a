/**
 * The publish target: the OCI image to a registry, into the local podman store, and the boot
 * artefacts to S3. Settings become the publish/ modules' options here; those know nothing of the CLI.
 */
import { basename, resolve } from 'node:path';
import type { BuildContext } from '../../lib/context.js';
import { UsageError } from '../../lib/errors.js';
import { hostArch } from '../../distros/index.js';
import type { Target } from '../engine/target.js';
import { registryOptions } from '../engine/registry-options.js';
import { imagePath, initrdPath, kernelPaths, ociPaths, rootfsDir, squashfsPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

const S3_ARTIFACTS = ['squashfs', 'kernel', 'initrd', 'image'] as const;

/** The targets publish needs built: oci for a registry or podman, the S3 artefacts. */
function publishDeps(s: Settings): string[] {
  const deps = s.publishRegistry || s.publishLocal ? ['oci'] : [];
  // image-build's layout: the kernel and initramfs are the image's own, in the rootfs's /boot.
  if (s.publishS3) for (const a of s.s3Artifacts) if (!(a === 'kernel' && s.kernel) && !(s.s3Layout === 'image-build' && (a === 'kernel' || a === 'initrd'))) deps.push(a);
  if (s.publishS3 && s.s3Layout === 'image-build' && !deps.includes('squashfs')) deps.push('rootfs');
  return deps;
}

export async function tagsOf(s: Settings): Promise<string[]> {
  if (s.tag.length) return [...s.tag];
  const { parseReference } = await import('../../oci-builder/index.js');
  return [parseReference(s.ociRef).tag];
}

export async function validatePublish(s: Settings): Promise<void> {
  if (!s.publishRegistry && !s.publishLocal && !s.publishS3) {
    throw new UsageError('osb publish has nowhere to publish to', 'give --publish-registry HOST[:PORT]/REPO, --publish-s3 ENDPOINT or --publish-local (or publish_registry, publish_s3, publish_local in osb.yaml)');
  }
  const { checkTag, parseRegistryTarget } = await import('../../oci-builder/reference.js');
  for (const t of s.tag) checkTag(t);
  if (s.publishRegistry) parseRegistryTarget(s.publishRegistry);
  if (s.creds !== undefined) (await import('../../publish/auth.js')).parseCreds(s.creds);
  if (s.publishS3) {
    if (!/^https?:\/\/[^/]+/.test(s.publishS3)) throw new UsageError(`--publish-s3 must be an endpoint URL; got '${s.publishS3}'`, 'e.g. --publish-s3 https://s3.example.org');
    if (!s.s3Bucket) throw new UsageError('--publish-s3 needs a bucket', 'give --s3-bucket NAME (osb.yaml s3_bucket)');
    const bad = s.s3Artifacts.filter((a) => !(S3_ARTIFACTS as readonly string[]).includes(a));
    if (bad.length) throw new UsageError(`--s3-artifacts: unknown '${bad[0]}'`, `choose from ${S3_ARTIFACTS.join(', ')}`);
    if (!s.s3Access || !s.s3Secret) throw new UsageError('--publish-s3 needs credentials', 'set S3_ACCESS and S3_SECRET (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)');
  }
}

/**
 * Push the OCI layout under every tag, and with --sign-key its signatures and attestations. The
 * layout of a multi-platform image (osb oci --arch x86_64,aarch64) names an index: `arches` are
 * the settings of each architecture's build, whose SBOM and provenance are attested about the
 * image built there; the index and every image are signed under each tag.
 */
export async function publishRegistry(ctx: BuildContext, s: Settings, tags: string[], arches: readonly Settings[] = []): Promise<void> {
  const { parseRegistryTarget } = await import('../../publish/registry.js');
  const { pushLayout, readLayout } = await import('../../publish/layout.js');
  const target = parseRegistryTarget(s.publishRegistry!);
  const dest = `${target.host}/${target.repo}`;
  const layout = ociPaths(s).layout;
  if (ctx.dryRun) return void ctx.log.info(`would push ${layout} to ${dest} as ${tags.join(', ')}`);
  // The signatures and attestations go up beside the image's blobs, tags and all, and the image's
  // tag only once they are in place: a puller whose policy requires the signature never finds the
  // tag naming an image without it. (A push that fails after them leaves a signature of the digest
  // it was about to push; the next push finds it there and adds nothing.)
  let signing: Promise<string[]> | undefined;
  let pushFailed = false;
  let underway = (): void => undefined;
  const imageUnderway = new Promise<void>((r) => (underway = r));
  const read = s.signKey ? await readLayout(layout) : undefined;
  if (read) {
    const { top, images } = read;
    const attested = async (digest: string) => {
      if (!images.length) return s;
      for (const a of arches) if ((await readLayout(ociPaths(a).layout)).top.digest === digest) return a;
      return undefined;
    };
    // They wait until the image's own uploads have gone out: their POSTs ahead of the layer's
    // delayed its start (the key's scrypt runs meanwhile: loadSigner starts it now).
    void (await import('./sign.js')).loadSigner(s.signKey!);
    signing = imageUnderway
      .then(() => Promise.all([top, ...images].map(async (d) => stageSignatures(ctx, s, target, d.digest, tags, await attested(d.digest)))))
      .then((staged) => {
        if (pushFailed) throw new Error('the image push failed'); // never reported: the push's own error is
        return Promise.all(staged.map((x) => x.commit()));
      });
    signing.catch(() => undefined); // awaited below; a failed image push must not leave it unhandled
  }
  const r = await pushLayout(layout, tags, {
    ...(await registryOptions(ctx, s, target)),
    read,
    chunkSize: s.registryChunkSize * 1024,
    mountFrom: s.registryMountFrom,
    underway,
    // A wrong passphrase, or signatures the registry refused, stop the push before any tag names the image.
    ...(signing ? { beforeTags: () => signing! } : {}),
  }).catch(async (e: unknown) => {
    // No signature is committed once the push has failed, and none after its error is printed.
    pushFailed = true;
    await signing?.catch(() => undefined);
    throw e;
  });
  const signed = signing ? await signing : [];
  const st = r.stats;
  const what = r.images.length ? `index ${r.digest} of ${r.images.length} images` : `manifest ${r.digest}`;
  ctx.log.info(`pushed ${dest}:${tags.join(', :')} (${what}; blobs: ${st.pushed} uploaded, ${st.skipped} already there${st.mounted ? `, ${st.mounted} mounted` : ''})`);
  for (const line of signed) ctx.log.info(line);
}

/**
 * Sign the pushed image (or index) as cosign does: a simple-signing payload per tag (the identity
 * podman's default matchRepoDigestOrExact checks) under sha256-HEX.sig, and the SBOM and
 * provenance of `attest`'s build as in-toto statements about the manifest digest, in DSSE
 * envelopes under sha256-HEX.att (an index has no build of its own: its images carry them).
 */
async function stageSignatures(ctx: BuildContext, s: Settings, target: { host: string; repo: string }, digest: string, tags: readonly string[], attest: Settings | undefined): Promise<{ commit: () => Promise<string> }> {
  const { loadSigner, artefactStatements } = await import('./sign.js');
  const { simpleSigningPayload, signBytes, verifyBytes, SIMPLESIGNING_TYPE, SIGNATURE_ANNOTATION } = await import('../../signing/cosign.js');
  const { openEnvelope, signEnvelope, statement, DSSE_MEDIA_TYPE } = await import('../../signing/dsse.js');
  const { RegistryClient } = await import('../../publish/registry.js');
  const { stageAttachments } = await import('../../publish/signatures.js');
  const { packageVersion } = await import('../../lib/package-root.js');
  const signer = await loadSigner(s.signKey!);
  const name = `${target.host}/${target.repo}`;
  const sigs = tags.map((t) => {
    const payload = simpleSigningPayload(`${name}:${t}`, digest, `osb ${packageVersion()}`);
    return { mediaType: SIMPLESIGNING_TYPE, bytes: payload, annotations: { [SIGNATURE_ANNOTATION]: signBytes(signer.key, payload) } };
  });
  const subject = [{ name, sha256: digest.slice('sha256:'.length) }];
  const atts = (attest ? await artefactStatements(attest, 'oci', subject[0]) : []).map((st) => {
    const predicate = (JSON.parse(st.payload.toString('utf8')) as { predicate?: unknown; _type?: unknown }).predicate;
    const env = signEnvelope(signer.key, signer.pub, statement(subject, st.predicateType, predicate));
    return { mediaType: DSSE_MEDIA_TYPE, bytes: Buffer.from(JSON.stringify(env)), annotations: { [SIGNATURE_ANNOTATION]: '', predicateType: st.predicateType } };
  });
  const client = new RegistryClient({ ...(await registryOptions(ctx, s, target)), chunkSize: 0 });
  let ok = false;
  try {
    // ECDSA signatures differ each time: a signature of the same payload by this key is the same signature.
    const sameSig = (t: { bytes: Buffer; annotations: Readonly<Record<string, string>> }, it: { bytes: Buffer }) => t.bytes.equals(it.bytes) && verifyBytes(signer.pub, t.bytes, t.annotations[SIGNATURE_ANNOTATION] ?? '');
    const sameAtt = (t: { bytes: Buffer }, it: { bytes: Buffer }) => {
      try {
        const a = JSON.parse(t.bytes.toString('utf8')) as { payload?: unknown };
        return a.payload === (JSON.parse(it.bytes.toString('utf8')) as { payload: string }).payload && typeof openEnvelope(signer.pub, t.bytes) !== 'string';
      } catch {
        return false;
      }
    };
    const [sig, att] = await Promise.all([stageAttachments(client, digest, 'sig', sigs, sameSig), atts.length ? stageAttachments(client, digest, 'att', atts, sameAtt) : undefined]);
    ok = true;
    return {
      commit: async () => {
        try {
          await Promise.all([sig.commit(), att?.commit()]);
        } finally {
          client.close();
        }
        if (!sig.added && !att?.added) return `${name}@${digest} already signed with ${s.signKey}: its signature${sigs.length === 1 ? '' : 's'}${atts.length ? ` and ${atts.length} attestations` : ''} are there`;
        return `signed ${name}@${digest} with ${s.signKey}: ${sig.added} signature${sig.added === 1 ? '' : 's'} under :${sig.tag}${att ? `, ${att.added} attestation${att.added === 1 ? '' : 's'} under :${att.tag}` : ''}`;
      },
    };
  } finally {
    if (!ok) client.close();
  }
}

/** --publish-local: the oci-archive into podman's store, under the reference and every --tag. */
export async function publishLocalImage(ctx: BuildContext, s: Settings): Promise<void> {
  const { parseReference } = await import('../../oci-builder/index.js');
  const { publishLocal } = await import('../../publish/local.js');
  const ref = parseReference(s.ociRef);
  await publishLocal(ctx, { archivePath: ociPaths(s).archive, ref: ref.full, alsoAs: s.tag.map((t) => `${ref.name}:${t}`) });
}

async function runPublish(ctx: BuildContext, s: Settings): Promise<void> {
  const tags = await tagsOf(s);
  if (s.publishRegistry) await publishRegistry(ctx, s, tags);
  if (s.publishLocal) await publishLocalImage(ctx, s);
  if (s.publishS3) {
    const { parseReference } = await import('../../oci-builder/index.js');
    const { publishS3 } = await import('../../publish/s3.js');
    const paths: Record<string, { name: string; path: string }> = {
      squashfs: { name: 'rootfs.squashfs', path: squashfsPaths(s).image },
      kernel: { name: 'vmlinuz', path: s.kernel ? resolve(s.kernel) : kernelPaths(s).vmlinuz },
      initrd: { name: 'initrd.img', path: initrdPath(s) },
      image: { name: basename(imagePath(s)), path: imagePath(s) },
    };
    const name = parseReference(s.ociRef).name.split('/').at(-1)!;
    let artifacts: { name: string; path: string; keyFor?: (tag: string) => string }[] = s.s3Layout === 'image-build' ? await imageBuildArtifacts(s, name, paths.squashfs!.path) : s.s3Artifacts.map((a) => paths[a]!);
    if (s.signKey) {
      // The DSSE envelopes go with their artefacts, named after the object (initrd.img.intoto.dsse.json), so `osb verify` of the downloaded file finds them; the index lists them too.
      const { signArtefacts, envelopesBeside } = await import('./sign.js');
      if (!ctx.dryRun) await signArtefacts(s, s.s3Artifacts.filter((a): a is 'image' | 'initrd' | 'kernel' | 'squashfs' => ['image', 'initrd', 'kernel', 'squashfs'].includes(a)), ctx.log);
      artifacts = artifacts.flatMap((a) => [a, ...envelopesBeside(a.path).map((p) => ({ name: a.name + p.slice(a.path.length), path: p, ...(a.keyFor ? { keyFor: (t: string) => a.keyFor!(t) + p.slice(a.path.length) } : {}) }))]);
    }
    await publishS3({
      endpoint: s.publishS3,
      bucket: s.s3Bucket!,
      prefix: s.s3Prefix ?? '',
      name,
      tags,
      arch: s.arch ?? hostArch(),
      accessKey: s.s3Access!,
      secretKey: s.s3Secret!,
      region: s.s3Region,
      artifacts,
      dryRun: ctx.dryRun,
      log: ctx.log,
    });
  }
}

/**
 * The objects image-build's users' boot configs point at (image-build src/publish.py): the squashfs
 * as PREFIX OS-NAME-TAG (OS: the rootfs's os-release ID and VERSION_ID), and the kernel and
 * initramfs of the image's own /boot as efi-images/PREFIX vmlinuz-KVER and initramfs-KVER.img.
 */
export async function imageBuildArtifacts(s: Settings, name: string, squashfs: string): Promise<{ name: string; path: string; keyFor: (tag: string) => string }[]> {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { fileInTree, resolveInTree } = await import('../../lib/bootable.js');
  const root = rootfsDir(s);
  // Every path is read as the guest sees it, its links followed inside the tree: a parent whose
  // /boot links to the host's must not publish the host's kernel and initramfs.
  const file = (p: string) => fileInTree(root, p);
  const prefix = s.s3Prefix ?? '';
  const osRelease = ['/etc/os-release', '/usr/lib/os-release'].map(file).find((p) => p !== undefined);
  const fields = Object.fromEntries((osRelease ? readFileSync(osRelease, 'utf8') : '').split('\n').map((l) => /^([A-Z_]+)=(.*)$/.exec(l)).filter((m): m is RegExpExecArray => !!m).map((m) => [m[1]!, m[2]!.replace(/^["']|["']$/g, '')]));
  const os = (fields.ID && fields.VERSION_ID ? `${fields.ID}${fields.VERSION_ID}` : fields.ID_LIKE ? `${fields.ID_LIKE}-${fields.NAME ?? ''}` : '').toLowerCase();
  const out: { name: string; path: string; keyFor: (tag: string) => string }[] = [];
  if (s.s3Artifacts.includes('squashfs')) out.push({ name: 'squashfs', path: squashfs, keyFor: (tag) => `${prefix}${os}-${name}-${tag}` });
  if (s.s3Artifacts.includes('kernel') || s.s3Artifacts.includes('initrd')) {
    const modules = resolveInTree(root, '/lib/modules');
    const kvers = modules?.stats.isDirectory() ? readdirSync(modules.path).sort() : [];
    const boot = (f: string) => file(`/boot/${f}`);
    const kver = kvers.find((k) => boot(`initramfs-${k}.img`) ?? boot(`initrd-${k}`));
    if (!kver) throw new UsageError(`no initramfs or initrd in the rootfs's /boot for any kernel in /lib/modules (${kvers.join(', ') || 'none'}), which image-build's S3 layout publishes`, 'install a kernel and make its initramfs (e.g. cmds: dracut ...), or set --s3-artifacts squashfs');
    const initrd = boot(`initramfs-${kver}.img`) ? `initramfs-${kver}.img` : `initrd-${kver}`;
    const vmlinuz = boot(`vmlinuz-${kver}`);
    if (s.s3Artifacts.includes('kernel') && !vmlinuz) throw new UsageError(`no /boot/vmlinuz-${kver} in the rootfs (a file of the tree) for the initramfs ${initrd}`, 'install the kernel package, or leave kernel out of --s3-artifacts');
    if (s.s3Artifacts.includes('initrd')) out.push({ name: initrd, path: boot(initrd)!, keyFor: () => `efi-images/${prefix}${initrd}` });
    if (s.s3Artifacts.includes('kernel')) out.push({ name: `vmlinuz-${kver}`, path: vmlinuz!, keyFor: () => `efi-images/${prefix}vmlinuz-${kver}` });
  }
  return out;
}

export const publish: Target = {
  name: 'publish',
  summary: 'Push the OCI image to a registry (--publish-registry), load it into podman (--publish-local), upload boot artefacts to S3 (--publish-s3)',
  deps: publishDeps,
  settings: [],
  alwaysRun: true,
  outputs: () => [],
  // The registry and S3 clients are osb's own (Node); only --publish-local runs a tool.
  tools: (s) => (s.publishLocal ? ['podman'] : []),
  validate: validatePublish,
  run: runPublish,
};
