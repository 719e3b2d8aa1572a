/** The cached Debian minbase tree lives with the benchmarks (which ship in dist/); tests share it. */
export { debianRootfs, TEST_CACHE, DEBIAN_MIRROR } from '../../bench/debian-rootfs.js';
