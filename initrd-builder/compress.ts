/**
 * Which encoder compresses the archive, and with which arguments. Every stream must be one the
 * kernel's initramfs unpacker reads (lib/decompress_*.c) and must carry no timestamp or file name,
 * so the same archive always compresses to the same bytes on a given host.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UsageError } from '../lib/errors.js';

export type Compression = 'gzip' | 'zstd' | 'xz' | 'lz4' | 'none';
export const COMPRESSIONS: readonly Compression[] = ['zstd', 'gzip', 'xz', 'lz4', 'none'];

/**
 * zstd at its default level 3, multi-threaded (`zstd -T0`): the fastest of the kernel's formats
 * at a Kata-like size. On a Debian bookworm minbase rootfs (165 MB of cpio, 2 cores), `osb initrd`
 * took 0.9 s for 51.1 MB with zstd and 4.9 s for 60.1 MB with gzip (pigz -6), where Kata's
 * `find . | cpio -H newc -o | gzip -9` took 20 s for 60.3 MB: zstd is 20x faster and 15% smaller
 * than what Kata ships, and it also unpacks faster at boot. Guest kernels read it since Linux 5.9
 * (CONFIG_RD_ZSTD=y); for a kernel built without it, `--compression gzip` is read by every kernel.
 */
export const DEFAULT_COMPRESSION: Compression = 'zstd';

/**
 * How to compress: an external encoder reading stdin, Node's zlib, or not at all. A tool with
 * `fileArg` writes the file named by its last argument itself (appended by `encoderArgv`);
 * the others write stdout, which lib/run.ts sends to the file. `stdoutArgv` is the same encoder
 * writing stdout, for when osb takes the stream itself (to hash and check it as it is written).
 */
export type Encoder =
  | { readonly kind: 'tool'; readonly argv: readonly string[]; readonly fileArg: boolean; readonly stdoutArgv: readonly string[] }
  | { readonly kind: 'zlib'; readonly level: number }
  | { readonly kind: 'none' };

/** Levels each compressor accepts (as its `-N` option). */
const LEVELS: Readonly<Record<Exclude<Compression, 'none'>, readonly [number, number]>> = {
  zstd: [1, 22],
  gzip: [1, 9],
  xz: [0, 9],
  lz4: [1, 12],
};

/** Check a user-given compression name. */
export function parseCompression(value: string): Compression {
  if ((COMPRESSIONS as readonly string[]).includes(value)) return value as Compression;
  throw new UsageError(`unknown compression "${value}"; valid: ${COMPRESSIONS.join(', ')}`, `use --compression ${COMPRESSIONS.join('|')}`);
}

function checkLevel(c: Compression, level: number | undefined): void {
  if (level === undefined) return;
  if (c === 'none') throw new UsageError('a compression level was given with --compression none', 'drop the level, or choose a compression');
  const [lo, hi] = LEVELS[c];
  if (!Number.isInteger(level) || level < lo || level > hi) {
    throw new UsageError(`compression level ${level} is out of range for ${c} (${lo}-${hi})`, `pass a level from ${lo} to ${hi}`);
  }
}

/** True when an executable `tool` is on `path` (a PATH value). */
export function onPath(tool: string, path = process.env.PATH ?? ''): boolean {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return true;
    } catch {
      // not here; try the next directory
    }
  }
  return false;
}

/**
 * The encoder for `c`: the fastest one available. A missing zstd, xz or lz4 is not replaced by
 * something else; running it fails with an error naming the package (lib/run.ts).
 */
export function chooseEncoder(c: Compression, level?: number, path = process.env.PATH ?? ''): Encoder {
  parseCompression(c);
  checkLevel(c, level);
  const lvl = level === undefined ? [] : [`-${level}`];
  switch (c) {
    case 'none':
      return { kind: 'none' };
    case 'zstd': {
      // -T0: one worker per core. zstd's multi-threaded output does not depend on the worker
      // count, so a 2-core and a 64-core host give the same bytes. Levels above 19 need --ultra.
      // -o: zstd writes the file itself; through stdout every byte would also pass through Node.
      const zstd = ['zstd', '-T0', '-q', ...(level !== undefined && level > 19 ? ['--ultra'] : []), ...lvl];
      return { kind: 'tool', argv: [...zstd, '-f', '-o'], fileArg: true, stdoutArgv: [...zstd, '-c'] };
    }
    case 'xz':
      // The kernel's xz decoder knows no check but CRC32 (Documentation/staging/xz.rst), so xz's
      // default CRC64 makes the unpacker fail. xz >= 5.4 splits the input into blocks of a fixed size
      // with -T0, so the output is the same for any thread count.
      return stdoutTool(['xz', '--check=crc32', '-T0', '-q', '-c', ...lvl]);
    case 'lz4':
      // -l: the legacy frame, the only lz4 format the kernel's initramfs decompressor reads.
      // `- FILE`: read stdin, write FILE itself (as zstd -o).
      return { kind: 'tool', argv: ['lz4', '-l', '-q', '-f', ...lvl, '-'], fileArg: true, stdoutArgv: ['lz4', '-l', '-q', ...lvl, '-c'] };
    case 'gzip':
      // -n: no name and no timestamp in the header. pigz compresses on every core and, like
      // gzip, gives the same bytes on every run; Node's zlib is the last resort.
      if (onPath('pigz', path)) return stdoutTool(['pigz', '-n', '-c', ...lvl]);
      if (onPath('gzip', path)) return stdoutTool(['gzip', '-n', '-c', ...lvl]);
      return { kind: 'zlib', level: level ?? 6 };
  }
}

/** A tool encoder that writes stdout. */
const stdoutTool = (argv: readonly string[]): Encoder => ({ kind: 'tool', argv, fileArg: false, stdoutArgv: argv });

/** The command line of a tool encoder writing `file`. */
export function encoderArgv(e: Encoder & { kind: 'tool' }, file: string): string[] {
  return e.fileArg ? [...e.argv, file] : [...e.argv];
}

/** A line for logs and --dry-run saying how the archive is compressed (and, with `check`, checked as it is written). */
export function describeEncoder(e: Encoder, check?: readonly string[]): string {
  if (e.kind === 'tool' && check) return `${e.stdoutArgv.join(' ')}, checked by ${check.join(' ')} as it is written`;
  if (e.kind === 'tool') return e.fileArg ? `${e.argv.join(' ')} FILE` : e.argv.join(' ');
  if (e.kind === 'zlib') return `Node zlib gzip, level ${e.level} (neither pigz nor gzip is on PATH)`;
  return 'no compression';
}
