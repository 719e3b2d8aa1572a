/**
 * What a multi-architecture build (--arch x86_64,aarch64) does once each architecture's own
 * build in WORKDIR/ARCH is done: the OCI image index of their images (WORKDIR/osb-oci and
 * osb-oci.tar), and its push, signed, to the registry and into podman's store. The S3 artefacts
 * are each architecture's own, published from its workdir (their keys name the architecture).
 */
import type { Target } from '../engine/target.js';
import { ociPaths } from '../settings/paths.js';
import type { Settings } from '../settings/table.js';

/** The index over `arches` (the settings of each architecture's build), and, with `publish` (a registry or podman), its push. */
export function indexTargets(arches: readonly Settings[], publish: boolean): Target[] {
  const index: Target = {
    name: 'oci',
    summary: 'the OCI image index of every architecture',
    deps: () => [],
    settings: [],
    alwaysRun: true,
    outputs: (s) => [ociPaths(s).layout, ociPaths(s).archive],
    run: async (ctx, s) => {
      const { buildIndexLayout } = await import('../../oci-builder/index.js');
      await buildIndexLayout(ctx, { images: arches.map((a) => ociPaths(a).layout), layoutDir: ociPaths(s).layout, archivePath: ociPaths(s).archive, ref: s.ociRef });
    },
  };
  const push: Target = {
    name: 'publish',
    summary: 'the index and its images to the registry, into podman',
    deps: () => ['oci'],
    settings: [],
    alwaysRun: true,
    outputs: () => [],
    run: async (ctx, s) => {
      const { publishLocalImage, publishRegistry, tagsOf } = await import('./publish.js');
      if (s.publishRegistry) await publishRegistry(ctx, s, await tagsOf(s), arches);
      // podman loads the index's image for this host, under the index's digest, as a pull would.
      if (s.publishLocal) await publishLocalImage(ctx, s);
    },
  };
  return publish ? [index, push] : [index];
}
