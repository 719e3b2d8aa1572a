/**
 * The target table (DESIGN principle 1). A target is one file in this folder and one
 * line below; the lines' order is the order `osb help` lists the targets in. Each file loads its
 * builder only when it builds, so loading the table is cheap.
 */
import type { Target, TargetTable } from '../engine/target.js';
import type { Settings } from '../settings/table.js';

const TABLE: readonly (() => Promise<Target>)[] = [
  async () => (await import('./rootfs.js')).rootfs,
  async () => (await import('./image.js')).image,
  async () => (await import('./initrd.js')).initrd,
  async () => (await import('./kernel.js')).kernel,
  async () => (await import('./oci.js')).oci,
  async () => (await import('./bundle.js')).bundle,
  async () => (await import('./squashfs.js')).squashfs,
  async () => (await import('./sysext.js')).sysext,
  async () => (await import('./uki.js')).uki,
  async () => (await import('./publish.js')).publish,
  async () => (await import('./boot.js')).boot,
];

/** Convenience groups, as Kata's `make all`: a name that builds these targets. */
export const GROUPS: Readonly<Record<string, { readonly targets: readonly string[] | ((s: Settings) => readonly string[]); readonly summary: string }>> = {
  all: { targets: ['image', 'initrd'], summary: "rootfs, image and initrd (as Kata's make all)" },
  // image-build's one step: `image-build --config FILE` is `osb build --config FILE`.
  build: {
    targets: (s) => (s.publishRegistry || s.publishLocal || s.publishS3 ? ['publish'] : ['oci']),
    summary: 'What the project file asks for (an osb.yaml or an image-build config): the rootfs, the OCI image, and the publishing it names',
  },
};

/** The targets a group builds with these settings. */
export function groupTargets(name: string, s: Settings): readonly string[] | undefined {
  const g = GROUPS[name];
  return g && (typeof g.targets === 'function' ? g.targets(s) : g.targets);
}

let loaded: Promise<TargetTable> | undefined;

/** Every target, by name. */
export function loadTargets(): Promise<TargetTable> {
  loaded ??= (async () => {
    // One after the other: jest's ES module loader fails on modules that share imports and are
    // linked at the same time ("request for ... is not in cache").
    const table = new Map<string, Target>();
    for (const load of TABLE) {
      const t = await load();
      table.set(t.name, t);
    }
    return table;
  })();
  return loaded;
}
