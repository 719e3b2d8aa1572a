/**
 * A real Debian 11 (bullseye) minbase tree, for the scans: Debian 12's ssg-debian (0.1.65) has
 * data streams for Debian 10 and 11 only, and Debian 11's marks every rule "notapplicable" on a
 * bookworm tree. Built once with mmdebstrap from the tests' Debian mirror and kept in the test
 * cache beside debianRootfs()'s bookworm tree, the same way: a failed build leaves no entry.
 */
import { cachedDebianTree } from '../../bench/debian-rootfs.js';

/** Path of a Debian bullseye minbase rootfs. */
export const bullseyeRootfs = (): string => cachedDebianTree('debian-bullseye-minbase-v1', 'bullseye');
