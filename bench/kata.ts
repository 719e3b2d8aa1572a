/**
 * Kata's own osbuilder scripts, run as they are: bench/kata/tools/osbuilder/ holds
 * image-builder/image_builder.sh, initrd-builder/initrd_builder.sh, scripts/lib.sh and
 * image-builder/nsdax.gpl.c from kata-containers at KATA_COMMIT, unchanged (bench/kata/README.md).
 *
 * Two things of this host stand in for what Kata's scripts expect of theirs, in a directory put
 * ahead in PATH:
 *  - `partprobe`: without udev, partprobe leaves a loop device's partitions unregistered, so
 *    /dev/loopNp1 never appears and image_builder.sh gives up after five seconds. The stand-in
 *    registers them with `partx -a`, which is what udev's partprobe run ends in.
 *  - `sudo`: the benchmark runs as root; initrd_builder.sh calls sudo, which a root container
 *    need not have. The stand-in runs the command.
 * nsdax (the DAX header writer) is compiled once and passed as NSDAX_BIN, as Kata's container
 * build does, rather than by gcc on every run.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KATA_COMMIT = '7c6ba40c54ea29b459b4997cff948caaba4e658b';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The vendored scripts: beside this file in the sources, two levels up from dist/bench. */
const OSBUILDER = join(HERE, '..', '..', 'bench', 'kata', 'tools', 'osbuilder');

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface KataScripts {
  /** A shell command that builds `image` from `rootfs` with image_builder.sh (AGENT_INIT=yes). */
  readonly image: (image: string, rootfs: string, env?: string) => string;
  /** A shell command that builds `initrd` from `rootfs` with initrd_builder.sh (AGENT_INIT=yes). */
  readonly initrd: (initrd: string, rootfs: string) => string;
}

/** Set up the stand-ins and nsdax in `dir`; the commands that run Kata's scripts with them. */
export function kataScripts(dir: string): KataScripts {
  const bin = join(dir, 'kata-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'partprobe'), '#!/bin/sh\n# partprobe [-s] DEVICE...: register the partitions of each device, as udev would\nfor a; do case "$a" in /dev/*) partx -a "$a" 2>/dev/null || partx -u "$a" ;; esac; done\n');
  writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n');
  for (const f of ['partprobe', 'sudo']) chmodSync(join(bin, f), 0o755);
  const nsdax = join(bin, 'nsdax');
  execFileSync('gcc', ['-O2', join(OSBUILDER, 'image-builder', 'nsdax.gpl.c'), '-o', nsdax], { stdio: ['ignore', 'ignore', 'inherit'] });
  const env = `PATH=${q(bin)}:"$PATH" AGENT_INIT=yes NSDAX_BIN=${q(nsdax)}`;
  return {
    image: (image, rootfs, extra = '') => `env ${env} ${extra} bash ${q(join(OSBUILDER, 'image-builder', 'image_builder.sh'))} -o ${q(image)} ${q(rootfs)} > /dev/null`,
    initrd: (initrd, rootfs) => `env ${env} bash ${q(join(OSBUILDER, 'initrd-builder', 'initrd_builder.sh'))} -o ${q(initrd)} ${q(rootfs)} > /dev/null`,
  };
}
