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
import { imagePath, initrdPath, kernelPaths, ociPaths, squashfsPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

const S3_ARTIFACTS = ['squashfs', 'kernel', 'initrd', 'image'] as const;

/** The targets publish needs built: oci for a registry or podman, the S3 artefacts. */
function publishDeps(s: Settings): string[] {
  const deps = s.publishRegistry || s.publishLocal ? ['oci'] : [];
  if (s.publishS3) for (const a of s.s3Artifacts) if (!(a === 'kernel' && s.kernel)) deps.push(a);
  return deps;
}

async function tagsOf(s: Settings): Promise<string[]> {
  if (s.tag.length) return [...s.tag];
  const { parseReference } = await import('../../oci-builder/index.js');
  return [parseReference(s.ociRef).tag];
}

async function validatePublish(s: Settings): Promise<void> {
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

async function publishRegistry(ctx: BuildContext, s: Settings, registry: string, tags: string[]): Promise<void> {
  const { parseRegistryTarget } = await import('../../publish/registry.js');
  const { pushLayout } = await import('../../publish/layout.js');
  const target = parseRegistryTarget(registry);
  const dest = `${target.host}/${target.repo}`;
  if (ctx.dryRun) return void ctx.log.info(`would push ${ociPaths(s).layout} to ${dest} as ${tags.join(', ')}`);
  const r = await pushLayout(ociPaths(s).layout, tags, {
    ...(await registryOptions(ctx, s, target)),
    chunkSize: s.registryChunkSize * 1024,
    mountFrom: s.registryMountFrom,
  });
  const st = r.stats;
  ctx.log.info(`pushed ${dest}:${tags.join(', :')} (manifest ${r.digest}; blobs: ${st.pushed} uploaded, ${st.skipped} already there${st.mounted ? `, ${st.mounted} mounted` : ''})`);
}

async function runPublish(ctx: BuildContext, s: Settings): Promise<void> {
  const tags = await tagsOf(s);
  if (s.publishRegistry) await publishRegistry(ctx, s, s.publishRegistry, tags);
  if (s.publishLocal) {
    const { parseReference } = await import('../../oci-builder/index.js');
    const { publishLocal } = await import('../../publish/local.js');
    const ref = parseReference(s.ociRef);
    await publishLocal(ctx, { archivePath: ociPaths(s).archive, ref: ref.full, alsoAs: s.tag.map((t) => `${ref.name}:${t}`) });
  }
  if (s.publishS3) {
    const { parseReference } = await import('../../oci-builder/index.js');
    const { publishS3 } = await import('../../publish/s3.js');
    const paths: Record<string, { name: string; path: string }> = {
      squashfs: { name: 'rootfs.squashfs', path: squashfsPaths(s).image },
      kernel: { name: 'vmlinuz', path: s.kernel ? resolve(s.kernel) : kernelPaths(s).vmlinuz },
      initrd: { name: 'initrd.img', path: initrdPath(s) },
      image: { name: basename(imagePath(s)), path: imagePath(s) },
    };
    await publishS3({
      endpoint: s.publishS3,
      bucket: s.s3Bucket!,
      prefix: s.s3Prefix ?? '',
      name: parseReference(s.ociRef).name.split('/').at(-1)!,
      tags,
      arch: s.arch ?? hostArch(),
      accessKey: s.s3Access!,
      secretKey: s.s3Secret!,
      region: s.s3Region,
      artifacts: s.s3Artifacts.map((a) => paths[a]!),
      dryRun: ctx.dryRun,
      log: ctx.log,
    });
  }
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
