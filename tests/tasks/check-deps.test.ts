/** osb check-deps on this machine, and with a PATH lacking tools. */
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, osb } from '../helpers/cli.js';

describe('osb check-deps', () => {
  test('passes on this machine for every target CI installs tools for, and --json parses', () => {
    const r = osb(['check-deps', 'rootfs', 'image', 'initrd', 'kernel', 'boot', '--json']);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; version?: string }[] };
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(r.code).toBe(0);
    expect(report.checks.find((c) => c.name === 'mmdebstrap')?.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('a PATH without zstd: exit non-zero, the tool and its packages named', () => {
    // A PATH holding only a few tools (not zstd): osb must say what is missing and where it is.
    const bin = mkdtempSync(join(tmpdir(), 'osb-path-'));
    try {
      for (const t of ['sfdisk', 'mkfs.ext4', 'e2fsck', 'debugfs']) symlinkSync(`/usr/sbin/${t}`, join(bin, t));
      const r = osb(['check-deps', 'initrd', 'image'], { env: cleanEnv({ PATH: bin }) });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^initrd\s+zstd\s+MISSING\s+missing: apt-get install zstd \| dnf install zstd \| apk add zstd$/m);
      expect(r.stdout).toMatch(/^image\s+sfdisk\s+ok/m);
      expect(r.stdout).toMatch(/1 missing/);
      const j = JSON.parse(osb(['check-deps', 'initrd', '--json'], { env: cleanEnv({ PATH: bin }) }).stdout);
      expect(j.ok).toBe(false);
      expect(j.checks[0]).toMatchObject({ name: 'zstd', ok: false, packages: { debian: 'zstd' } });
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  test('the settings decide what is needed: gzip initrds need pigz or gzip, xfs images need mkfs.xfs', () => {
    const r = osb(['check-deps', 'initrd', 'image', '--compression', 'gzip', '--fs-type', 'xfs']);
    expect(r.stdout).toMatch(/^initrd\s+pigz\s+ok/m);
    expect(r.stdout).toMatch(/^image\s+mkfs\.xfs\s+ok/m);
    expect(r.stdout).not.toMatch(/mkfs\.ext4/);
  });

  test('alpine rootfs needs chroot and root, not mmdebstrap', () => {
    const r = osb(['check-deps', 'rootfs', '--distro', 'alpine']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rootfs\s+chroot\s+ok/m);
    expect(r.stdout).toMatch(/^rootfs\s+root\s+ok\s+running as root/m);
    expect(r.stdout).not.toMatch(/mmdebstrap/);
  });

  test('an unknown target is a usage error', () => {
    const r = osb(['check-deps', 'rootf']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("osb: unknown target 'rootf'");
  });
});
