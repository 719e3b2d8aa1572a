/**
 * A Debian bookworm minbase tree with python3 and systemd: what an Ansible layer's parent needs
 * (Ansible's modules run with the tree's python). Cached like debianRootfs().
 */
import { cachedDebianTree } from './debian-rootfs.js';

export const pythonTree = (): string => cachedDebianTree('debian-bookworm-python3-v1', 'bookworm', ['python3', 'systemd', 'systemd-sysv']);
