/**
 * --arch as a list (x86_64,aarch64): osb oci and osb publish build each architecture in its own
 * workdir, WORKDIR/ARCH, and name the images in one OCI image index. Everything else takes one.
 */
import { join } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { cacheDir } from './paths.js';
import type { Settings } from './table.js';

/** The targets that take a list of architectures. */
export const MULTI_ARCH_TARGETS: readonly string[] = ['oci', 'publish'];

/** The architectures --arch names; [] when it names none (the host's). */
export const archList = (s: Settings): readonly string[] => (s.arch ? s.arch.split(',') : []);

export const isMultiArch = (s: Settings): boolean => archList(s).length > 1;

/** Where one architecture of a multi-architecture build lives: WORKDIR/ARCH. */
export const archWorkdir = (s: Settings, arch: string): string => join(s.workdir, arch);

/**
 * The settings of one architecture of a multi-architecture build: its own workdir (rootfs, OCI
 * layout, records, logs), the cache of the whole build (downloads and base trees are keyed by
 * architecture), and nothing pushed or loaded: the index is, once every image is built.
 */
export function archSettings(s: Settings, arch: string): Settings {
  const from = `--arch ${s.arch}`;
  return {
    ...s,
    arch,
    workdir: archWorkdir(s, arch),
    cacheDir: cacheDir(s),
    publishRegistry: undefined,
    publishLocal: false,
    sources: { ...s.sources, arch: from, workdir: from, cacheDir: s.sources.cacheDir ?? from },
  };
}

/** What takes one architecture refuses a list, in one line. */
export function requireOneArch(s: Settings, what: string): void {
  if (!isMultiArch(s)) return;
  throw new UsageError(
    `${what} takes one architecture; --arch ${s.arch} is a list (from ${s.sources.arch ?? 'the workdir'}), which only osb ${MULTI_ARCH_TARGETS.join(' and osb ')} take`,
    `give one, e.g. --arch ${archList(s)[0]}; each architecture of a list is built in WORKDIR/ARCH, where --workdir WORKDIR/${archList(s)[0]} takes it further`,
  );
}
