/**
 * The KVM probe (a short test boot that shows whether /dev/kvm really runs guests) happens once
 * per host, not once per boot: its verdict is kept in the user's cache directory, keyed by the
 * host's kernel, qemu and /dev/kvm. `--accel tcg|kvm` skips it.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';

jest.setTimeout(10 * 60_000);
let dir: string;
let kernel: string;
beforeAll(() => {
  kernel = guestKernel();
  dir = mkdtempSync(join(tmpdir(), 'osb-kvm-probe-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a second osb boot on the same host does not probe KVM again', () => {
  const wd = join(dir, 'wd');
  const rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
  const env = cleanEnv({ XDG_CACHE_HOME: join(dir, 'cache') });
  expect(osb(['initrd', '--no-deps', '--agent-init', '--rootfs-dir', rootfs, '--compression', 'gzip', '--workdir', wd], { env }).code).toBe(0);
  const boot = () => {
    const r = osb(['boot', '--initrd', '--no-deps', '--kernel', kernel, '--workdir', wd], { env });
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stdout}\n${r.stderr}`);
    return { ...r, log: readFileSync(join(wd, 'logs', 'boot.log'), 'utf8') };
  };
  const probed = (log: string) => log.includes('rdinit=/osb-kvm-probe');
  const first = boot();
  const kvmUsable = existsSync('/dev/kvm');
  expect(probed(first.log)).toBe(kvmUsable);
  if (kvmUsable) expect(JSON.parse(readFileSync(join(dir, 'cache', 'osb', 'kvm-probe.json'), 'utf8'))).toHaveProperty('key');
  const second = boot();
  expect(probed(second.log)).toBe(false);
  if (kvmUsable) expect(second.stderr + second.stdout).toMatch(/using TCG .*probed earlier on this host|booting initrd .* under KVM/);
  // --accel tcg never probes, even with no verdict cached.
  rmSync(join(dir, 'cache'), { recursive: true, force: true });
  const r = osb(['boot', '--initrd', '--no-deps', '--kernel', kernel, '--workdir', wd, '--accel', 'tcg'], { env });
  expect(r.code).toBe(0);
  expect(probed(readFileSync(join(wd, 'logs', 'boot.log'), 'utf8'))).toBe(false);
  expect(r.stdout).toMatch(/under TCG/);
});
