/** oci-builder: the rootfs as an OCI image, an OCI runtime bundle and a squashfs. */
export { buildOci, parseKeyValues, DEFAULT_PATH_ENV, type OciOptions, type OciResult } from './oci.js';
export { buildIndexLayout, type IndexLayoutOptions } from './index-layout.js';
export { buildBundle, runtimeSpec, type BundleOptions } from './bundle.js';
export { bootTreeInputs, buildSquashfs, writeSquashfsBootTree, SQUASHFS_COMPRESSIONS, type SquashfsCompression, type SquashfsOptions } from './squashfs.js';
export { parseReference, type ImageReference } from './reference.js';
export { LAYER_COMPRESSIONS, parseLayerCompression, type LayerCompression } from './layer.js';
