/** Fragment composition and the dropped-option check, against a fixture Kconfig tree. */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfig, droppedError, fragmentFiles, indexKconfig, mergeFragments, parseDotConfig, parseFragment } from '../../kernel-builder/config.js';
import { newestPatchRelease, parseKernelVersion, resolveSource } from '../../kernel-builder/source.js';
import { OsbError } from '../../lib/errors.js';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';

const FIX = join(REPO_ROOT, 'tests/fixtures/kconfig');

describe('fragments', () => {
  test('osb ships common + x86_64 fragments, merged in order, user fragments last', async () => {
    const files = await fragmentFiles('x86_64', ['/my/extra.conf']);
    expect(files.map((f) => f.replace(/.*configs\//, ''))).toEqual([
      'common/base.conf', 'common/containers.conf', 'common/filesystems.conf', 'common/initrd.conf', 'common/verity.conf', 'common/virtio.conf', 'x86_64/guest.conf', '/my/extra.conf',
    ]);
    const merged = mergeFragments(files.slice(0, -1).map((file) => ({ file, text: readFileSync(file, 'utf8') })));
    for (const opt of ['CONFIG_VIRTIO_BLK', 'CONFIG_EXT4_FS', 'CONFIG_XFS_FS', 'CONFIG_EROFS_FS', 'CONFIG_OVERLAY_FS', 'CONFIG_9P_FS', 'CONFIG_VIRTIO_FS', 'CONFIG_VIRTIO_VSOCKETS', 'CONFIG_BLK_DEV_PMEM', 'CONFIG_FS_DAX', 'CONFIG_CGROUPS', 'CONFIG_USER_NS', 'CONFIG_SERIAL_8250_CONSOLE']) {
      expect(merged.options.get(opt)?.value).toBe('y');
    }
    // every initrd compression osb offers
    for (const c of ['GZIP', 'ZSTD', 'XZ', 'LZ4']) expect(merged.options.get(`CONFIG_RD_${c}`)?.value).toBe('y');
  });

  test('a later fragment overrides an earlier one, "is not set" included', () => {
    const m = mergeFragments([
      { file: 'a.conf', text: 'CONFIG_A=y\nCONFIG_B=y\nCONFIG_S="x"\n' },
      { file: 'b.conf', text: '# CONFIG_A is not set\nCONFIG_B=m\nCONFIG_N=42\n' },
    ]);
    expect(m.text).toBe('# CONFIG_A is not set\nCONFIG_B=m\nCONFIG_S="x"\nCONFIG_N=42\n');
    expect(m.options.get('CONFIG_B')?.where).toBe('b.conf:2');
  });

  test('a syntax error names the file and line', () => {
    expect(() => parseFragment('CONFIG_OK=y\nCONFIG_BAD = yes please\n', 'user.conf')).toThrow("syntax error in kernel config fragment user.conf:2: 'CONFIG_BAD = yes please'");
  });
});

describe('the dropped-option check', () => {
  test('options Kconfig dropped are listed with what they depend on; unknown ones are only warned', async () => {
    const kconfig = await indexKconfig(FIX);
    expect(kconfig.get('CONFIG_EROFS_FS')?.dependsOn).toEqual(['MISC_FILESYSTEMS', 'BLOCK']);
    expect(kconfig.get('CONFIG_VIRTIO_BLK')?.dependsOn).toEqual(['PCI', 'VIRTIO']);
    const requested = mergeFragments([{ file: 'guest.conf', text: 'CONFIG_BLOCK=y\nCONFIG_EXT4_FS=y\nCONFIG_EROFS_FS=y\nCONFIG_VIRTIO_BLK=y\nCONFIG_NOT_IN_THIS_KERNEL=y\n' }]).options;
    const check = checkConfig(requested, parseDotConfig(readFileSync(join(FIX, 'final.config'), 'utf8')), kconfig);
    expect(check.dropped.map((d) => d.option.name)).toEqual(['CONFIG_EROFS_FS', 'CONFIG_VIRTIO_BLK']);
    expect(check.unknown.map((u) => u.name)).toEqual(['CONFIG_NOT_IN_THIS_KERNEL']);
    const err = droppedError(check);
    expect(err).toBeInstanceOf(OsbError);
    expect(err.message).toBe(
      'the kernel dropped 2 option(s) the config fragments asked for: CONFIG_EROFS_FS=y (guest.conf:3) ended up not set; it depends on MISC_FILESYSTEMS && BLOCK; CONFIG_VIRTIO_BLK=y (guest.conf:4) ended up not set; it depends on PCI && VIRTIO',
    );
  });
});

describe('kernel source selection', () => {
  test('--kernel-version must be a version', () => {
    expect(parseKernelVersion('6.1')).toEqual({ series: '6.1', full: undefined });
    expect(parseKernelVersion('6.1.119')).toEqual({ series: '6.1', full: '6.1.119' });
    expect(() => parseKernelVersion('latest')).toThrow("--kernel-version 'latest' is not a kernel version");
    expect(() => parseKernelVersion('6')).toThrow(/not a kernel version/);
  });

  test('the newest patch release of a series is picked by version, not by text', () => {
    const listing = ['linux-6.1.tar.xz', 'linux-6.1.9.tar.xz', 'linux-6.1.119.tar.xz', 'linux-6.1.20.tar.xz', 'linux-6.10.3.tar.xz', 'linux-6.1.119.tar.sign']
      .map((n) => `<a href="${n}">${n}</a>`)
      .join('\n');
    expect(newestPatchRelease(listing, '6.1')).toBe('6.1.119');
    expect(newestPatchRelease(listing, '6.10')).toBe('6.10.3');
    expect(newestPatchRelease(listing, '5.4')).toBeUndefined();
  });

  test('a directory that is not a kernel tree is refused', () => {
    expect(() => resolveSource(FIX, undefined)).toThrow(`${FIX} is not a kernel source tree (no Makefile, Kconfig and scripts/kconfig)`);
  });

  test('without --kernel-src or --kernel-version the host linux-source tarball is used', () => {
    expect(resolveSource(undefined, undefined)).toMatchObject({ kind: 'tarball', path: expect.stringMatching(/^\/usr\/src\/linux-source-\d+\.\d+\.tar\.xz$/) });
  });
});
