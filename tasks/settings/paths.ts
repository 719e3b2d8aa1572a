/** Where each output lives, from the settings. One place, so targets and commands agree. */
import { join, resolve } from 'node:path';
import type { Settings } from './table.js';

export const rootfsDir = (s: Settings): string => resolve(s.rootfsDir ?? join(s.workdir, 'rootfs'));
/** The last scan of the rootfs, which the next image is sized from while it checks it (image-builder/scan.ts). */
export const scanRecordPath = (s: Settings): string => join(s.workdir, '.osb', 'rootfs-scan.json');
export const manifestPath = (s: Settings): string => join(s.workdir, 'rootfs.manifest.json');
export const cacheDir = (s: Settings): string => resolve(s.cacheDir ?? join(s.workdir, 'cache'));
export const imagePath = (s: Settings): string => join(s.workdir, s.imageName);
/** The measured rootfs's root hash and kernel parameters, beside the image. */
export const rootHashPath = (s: Settings): string => join(s.workdir, 'root_hash.txt');
export const initrdPath = (s: Settings): string => join(s.workdir, s.initrdName);
/** Stable names of the built kernel (links to the versioned files, as Clear Containers made). */
export const kernelPaths = (s: Settings) => ({
  vmlinuz: join(s.workdir, 'vmlinuz.container'),
  vmlinux: join(s.workdir, 'vmlinux.container'),
  config: join(s.workdir, 'kernel.config'),
  buildDir: join(s.workdir, 'kernel-build'),
});
/** osb oci, osb bundle, osb squashfs. */
export const ociPaths = (s: Settings) => ({
  layout: join(s.workdir, 'osb-oci'),
  archive: join(s.workdir, 'osb-oci.tar'),
  dockerArchive: join(s.workdir, 'osb-docker.tar'),
});
export const bundlePaths = (s: Settings) => ({ dir: join(s.workdir, 'osb-bundle'), tar: join(s.workdir, 'osb-bundle.tar') });
/** --parent: the pulled or extracted parent layout, and what the rootfs took from it. */
export const parentPaths = (s: Settings) => ({ layout: join(s.workdir, 'osb-parent'), state: join(s.workdir, 'osb-parent.state.json') });
export const squashfsPaths = (s: Settings) => ({ image: join(s.workdir, 'osb.squashfs'), bootInitrd: join(s.workdir, 'osb-squashfs-boot.img') });
/** osb uki: the Unified Kernel Image and its predicted measurements. */
export const ukiPaths = (s: Settings) => ({
  uki: join(s.workdir, 'osb.efi'),
  pcr: join(s.workdir, 'osb.efi.pcr.json'),
  statement: join(s.workdir, 'osb.efi.intoto.json'),
  /** osb boot --uki --secure-boot: OVMF's variable store with --sb-cert enrolled. */
  vars: join(s.workdir, 'osb.efi.vars.fd'),
});
/** osb sysext: NAME.raw, the name systemd-sysext looks for in /var/lib/extensions. */
export const sysextPath = (s: Settings): string => join(s.workdir, `${s.sysextName ?? 'osb'}.raw`);
/** osb sysext --measured-rootfs: the /usr partition's root hash beside NAME.raw, where systemd looks for it (NAME.usrhash). */
export const sysextUsrHashPath = (s: Settings): string => join(s.workdir, `${s.sysextName ?? 'osb'}.usrhash`);
/** osb sysext --for kata: the verity_params of a Kata guest extension image (Kata's guest_extension_images entry). */
export const sysextVerityPath = (s: Settings): string => join(s.workdir, `${s.sysextName ?? 'osb'}.verity_params`);
/** The OpenSCAP scan of the rootfs (--scap-datastream, --oval-definitions): results and reports beside it. */
export const scapPaths = (s: Settings) => ({ dir: s.workdir, basename: 'openscap', arf: join(s.workdir, 'openscap.arf.xml'), html: join(s.workdir, 'openscap.html') });
/** The artefacts that carry an SBOM and a provenance statement beside them. */
export type Artefact = 'rootfs' | 'image' | 'initrd' | 'oci';
/** The file an artefact's SBOM and provenance sit beside (the rootfs: WORKDIR/rootfs). */
const besideOf = (s: Settings, kind: Artefact): string => (kind === 'rootfs' ? join(s.workdir, 'rootfs') : kind === 'image' ? imagePath(s) : kind === 'initrd' ? initrdPath(s) : ociPaths(s).archive);
/**
 * The SBOM beside an artefact: WORKDIR/rootfs.spdx.json, WORKDIR/osb.img.spdx.json, ...
 * (.cdx.json with --sbom-format cyclonedx).
 */
export function sbomPath(s: Settings, kind: Artefact): string {
  return besideOf(s, kind) + (s.sbomFormat === 'cyclonedx' ? '.cdx.json' : '.spdx.json');
}
/** The in-toto provenance statement beside an artefact (WORKDIR/osb.img.intoto.json, ...). */
export function provenancePath(s: Settings, kind: Artefact): string {
  return besideOf(s, kind) + '.intoto.json';
}
