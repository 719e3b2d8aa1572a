/**
 * osb boot --sysext: a Debian bookworm guest booted with systemd, and the extension osb sysext
 * built for it attached as a read-only virtio disk. systemd-sysext in the guest (never on the
 * host) is the oracle: it must accept the extension for this base and merge it, so the
 * extension's program runs from /usr. The guest side is a unit a user would write: it finds the
 * disk by the serial osb gives it (Kata's extension-NAME), mounts it under /run/extensions and
 * merges, printing to the console.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorLine, osb } from '../helpers/cli.js';
import { TEST_CACHE } from '../helpers/debian-rootfs.js';
import { guestKernel } from '../helpers/guest-kernel.js';

jest.setTimeout(45 * 60_000);
let dir: string;
let wd: string;
let kernel: string;
let common: string[];

const CHECK = `#!/bin/sh
# The disk osb boot --sysext attached, found by its serial (Kata's extension-NAME).
for d in /sys/block/vd*; do
  [ "$(cat "$d/serial" 2>/dev/null)" = extension-devtools ] && dev=/dev/\${d##*/}
done
echo "osb-sysext-check: disk \${dev:-none}"
usrhash=$(tr ' ' '\\n' < /proc/cmdline | sed -n 's/^osb\\.usrhash=//p')
if [ -n "$usrhash" ]; then
  # A measured DDI: as a file beside its usrhash (systemd attaches it through a loop device and
  # opens its usr-verity partition with the hash), copied from the disk the host attached.
  mkdir -p /run/extensions && cat "$dev" > /run/extensions/devtools.raw && echo "$usrhash" > /run/extensions/devtools.usrhash
  # The root is read-only, and systemd-sysext reads an image file's metadata through a mount under /tmp.
  mountpoint -q /tmp || mount -t tmpfs tmpfs /tmp
else
  # Mounted as a directory extension of its own name: systemd-sysext 252 given the block device
  # itself looks for extension-release.vdb (the device's name), not the link's.
  mkdir -p /run/extensions/devtools && mount -o ro "$dev" /run/extensions/devtools
fi
systemd-sysext merge 2>&1 | sed 's/^/osb-sysext-check: merge: /'
systemd-sysext status --no-pager 2>&1 | sed 's/^/osb-sysext-check: status: /'
echo "osb-sysext-check: hello: $(/usr/bin/osb-hello 2>&1)"
# The kernel's own list of device-mapper devices and what each sits on (no udev, no /dev/mapper).
echo "osb-sysext-check: verity devices: $(for d in /sys/block/dm-*; do [ -e "$d/dm/name" ] && echo "$(cat "$d/dm/name") on $(ls "$d/slaves" | tr '\\n' ' ')"; done | tr '\\n' ';')"
echo "osb-sysext-check: caps: $(getcap /usr/local/bin/osb-cap 2>&1)"
echo "osb-sysext-check: done"
`;

const UNIT = `[Unit]
Description=merge the system extension osb boot attached
After=local-fs.target
Before=osb-agent.service

[Service]
Type=oneshot
ExecStart=/etc/osb-sysext-check
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

// As Kata's kata-extension-mount.sh does it: the disk by its serial, the verity parameters from the
// kernel command line, veritysetup open --no-superblock over partitions 1 and 2, a read-only mount.
const KATA_MOUNT = `#!/bin/sh
name=$1
for d in /sys/block/vd*; do
  [ "$(cat "$d/serial" 2>/dev/null)" = "extension-$name" ] && dev=/dev/\${d##*/}
done
params=$(tr ' ' '\\n' < /proc/cmdline | sed -n "s/^kata\\.extension\\.$name\\.verity_params=//p")
echo "osb-kata-ext: disk \${dev:-none} params \${params:-none}"
get() { echo "$params" | tr ',' '\\n' | sed -n "s/^$1=//p"; }
veritysetup open --no-superblock --data-blocks="$(get data_blocks)" --data-block-size="$(get data_block_size)" \\
  --hash-block-size="$(get hash_block_size)" --salt="$(get salt)" "\${dev}1" "extension-$name" "\${dev}2" "$(get root_hash)" 2>&1 | sed 's/^/osb-kata-ext: veritysetup: /'
mkdir -p "/run/kata-extensions/$name"
mount -o ro -t erofs "/dev/mapper/extension-$name" "/run/kata-extensions/$name" 2>&1 | sed 's/^/osb-kata-ext: mount: /'
echo "osb-kata-ext: hello: $("/run/kata-extensions/$name/usr/local/bin/hello" 2>&1)"
echo "osb-kata-ext: done"
`;

const KATA_UNIT = `[Unit]
Description=mount the Kata guest extension image coco, as Kata's kata-extension-mount@.service
After=local-fs.target systemd-udevd.service systemd-udev-trigger.service
Before=osb-agent.service
ConditionKernelCommandLine=kata.extension.coco.verity_params

[Service]
Type=oneshot
ExecStart=/etc/osb-kata-ext coco
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

beforeAll(() => {
  kernel = guestKernel();
  dir = mkdtempSync(join(tmpdir(), 'osb-sysext-merge-'));
  wd = join(dir, 'wd');
  const hook = join(dir, 'guest-unit.sh');
  writeFileSync(join(dir, 'check'), CHECK);
  writeFileSync(join(dir, 'unit'), UNIT);
  writeFileSync(join(dir, 'kata-mount'), KATA_MOUNT);
  writeFileSync(join(dir, 'kata-unit'), KATA_UNIT);
  writeFileSync(hook, `#!/bin/sh\nset -e\ninstall -m 0755 '${join(dir, 'check')}' "$ROOTFS_DIR/etc/osb-sysext-check"\ninstall -m 0644 '${join(dir, 'unit')}' "$ROOTFS_DIR/etc/systemd/system/osb-sysext-check.service"\nln -sf ../osb-sysext-check.service "$ROOTFS_DIR/etc/systemd/system/multi-user.target.wants/osb-sysext-check.service"\ninstall -m 0755 '${join(dir, 'kata-mount')}' "$ROOTFS_DIR/etc/osb-kata-ext"\ninstall -m 0644 '${join(dir, 'kata-unit')}' "$ROOTFS_DIR/etc/systemd/system/osb-kata-ext.service"\nln -sf ../osb-kata-ext.service "$ROOTFS_DIR/etc/systemd/system/multi-user.target.wants/osb-kata-ext.service"\ncp "$ROOTFS_DIR/bin/true" "$ROOTFS_DIR/usr/local/bin/osb-cap"\nsetcap cap_net_raw+ep "$ROOTFS_DIR/usr/local/bin/osb-cap"\n`);
  chmodSync(hook, 0o755);
  const tree = join(dir, 'devtools');
  mkdirSync(join(tree, 'usr/bin'), { recursive: true });
  writeFileSync(join(tree, 'usr/bin/osb-hello'), '#!/bin/sh\necho hello from the extension\n');
  chmodSync(join(tree, 'usr/bin/osb-hello'), 0o755);
  common = ['--workdir', wd, '--cache-dir', join(TEST_CACHE, 'osb-cache'), '--kernel', kernel];
  // The systemd guest (no --agent-init) with the unit, and the extension for it.
  // cryptsetup-bin: veritysetup, which a Kata guest opens a measured extension with; libcap2-bin: getcap.
  const r = osb(['sysext', ...common, '--hook', hook, '--extra-pkgs', 'cryptsetup-bin libcap2-bin', '--sysext-tree', tree, '--sysext-name', 'devtools'], { timeoutMs: 40 * 60_000 });
  if (r.code !== 0) throw new Error(`osb sysext failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('osb boot --sysext', () => {
  test('systemd-sysext in the booted guest merges the extension: its program runs from /usr', () => {
    const r = osb(['boot', '--image', '--no-dax', '--sysext', ...common, '--boot-timeout', '400', '--ready-pattern', 'osb-sysext-check: done'], { timeoutMs: 15 * 60_000 });
    const log = readFileSync(join(wd, 'logs/boot.log'), 'utf8');
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stderr}\n${log.slice(-4000)}`);
    expect(log).toMatch(/osb-sysext-check: disk \/dev\/vd[b-z]/);
    expect(log).toMatch(/osb-sysext-check: merge: Using extensions 'devtools'/);
    expect(log).toMatch(/osb-sysext-check: status: \/usr +devtools/);
    expect(log).toContain('osb-sysext-check: hello: hello from the extension');
    expect(log).toContain('osb-sysext-check: caps: /usr/local/bin/osb-cap cap_net_raw=ep');
  });

  test("an extension built for another base: the guest's systemd-sysext refuses it, and /usr stays the base's", () => {
    // The same tree and name, for a base that says it is Fedora 40 (osb sysext --no-deps on a tree of that name).
    const other = join(dir, 'fedora-base');
    mkdirSync(join(other, 'etc'), { recursive: true });
    writeFileSync(join(other, 'etc/os-release'), 'ID=fedora\nVERSION_ID=40\n');
    const owd = join(dir, 'other');
    const b = osb(['sysext', '--no-deps', '--workdir', owd, '--rootfs-dir', other, '--sysext-tree', join(dir, 'devtools'), '--sysext-name', 'devtools']);
    expect(b.code).toBe(0);
    // Booted in place of the right one: --no-deps, so osb does not rebuild it.
    copyFileSync(join(owd, 'devtools.raw'), join(wd, 'devtools.raw'));
    const r = osb(['boot', '--image', '--no-dax', '--sysext', '--no-deps', ...common, '--boot-timeout', '400', '--ready-pattern', 'osb-sysext-check: done'], { timeoutMs: 15 * 60_000 });
    const log = readFileSync(join(wd, 'logs/boot.log'), 'utf8');
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stderr}\n${log.slice(-4000)}`);
    expect(log).toMatch(/osb-sysext-check: merge: No suitable extensions found \(1 ignored due to incompatible version\)/);
    expect(log).toMatch(/osb-sysext-check: status: \/usr +none/);
    expect(log).toMatch(/osb-sysext-check: hello: .*not found/);
  });

  test("--for kata: a Kata guest extension image, opened as Kata's guest opens it (verity parameters from the kernel command line), its program runs", () => {
    const kt = join(dir, 'coco');
    mkdirSync(join(kt, 'usr/local/bin'), { recursive: true });
    writeFileSync(join(kt, 'usr/local/bin/hello'), '#!/bin/sh\necho hello from coco\n', { mode: 0o755 });
    writeFileSync(join(kt, 'usr/local/bin/payload'), Buffer.alloc(256 * 1024, 'coco'));
    const b = osb(['sysext', '--for', 'kata', ...common, '--sysext-tree', kt, '--sysext-name', 'coco']);
    if (b.code !== 0) throw new Error(`osb sysext --for kata failed:\n${b.stderr}`);
    const params = readFileSync(join(wd, 'coco.verity_params'), 'utf8').trim();
    const r = osb(['boot', '--image', '--no-dax', '--sysext', ...common, '--boot-timeout', '400', '--ready-pattern', 'osb-kata-ext: done'], { timeoutMs: 15 * 60_000 });
    const log = readFileSync(join(wd, 'logs/boot.log'), 'utf8');
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stderr}\n${log.slice(-4000)}`);
    expect(r.stdout + r.stderr).toContain(`kata.extension.coco.verity_params=${params}`);
    expect(log).toContain(`osb-kata-ext: disk /dev/vdb params ${params}`);
    expect(log).not.toMatch(/osb-kata-ext: (veritysetup|mount): /);
    expect(log).toContain('osb-kata-ext: hello: hello from coco');
  });

  test('--for kata with a flipped byte in the extension: the guest kernel\'s dm-verity refuses it and osb boot fails naming it', () => {
    const img = join(wd, 'coco.raw');
    const b = readFileSync(img);
    // Inside the erofs superblock, which the guest's mount reads first.
    b[1048576 + 1024 + 8] ^= 0xff;
    writeFileSync(img, b);
    const r = osb(['boot', '--image', '--no-dax', '--sysext', '--no-deps', ...common, '--boot-timeout', '400', '--ready-pattern', 'osb-kata-ext: done'], { timeoutMs: 15 * 60_000 });
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/^osb: boot failed: dm-verity found data that does not match the root hash \(.*device-mapper: verity: .*data block 0 is corrupted/);
  });

  test('measured (--measured-rootfs): a GPT DDI of usr and usr-verity that systemd-dissect pairs by the hash; the guest merges it through a loop device and dm-verity', () => {
    const mwd = join(dir, 'measured');
    const b = osb(['sysext', '--no-deps', '--measured-rootfs', '--workdir', mwd, '--rootfs-dir', join(wd, 'rootfs'), '--sysext-tree', join(dir, 'devtools'), '--sysext-name', 'devtools']);
    if (b.code !== 0) throw new Error(`osb sysext --measured-rootfs failed:\n${b.stderr}`);
    const hash = readFileSync(join(mwd, 'devtools.usrhash'), 'utf8').trim();
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    // The host has no device-mapper: systemd-dissect reads the table and pairs the partitions, and cannot open them.
    const d = JSON.parse(execFileSync('systemd-dissect', ['--json=short', join(mwd, 'devtools.raw')], { encoding: 'utf8' })) as { mounts: { designator: string; architecture: string; verity: string | null; partition_uuid: string }[] };
    expect(d.mounts.map((m) => [m.designator, m.architecture])).toEqual([['usr', 'x86-64'], ['usr-verity', 'x86-64']]);
    expect(d.mounts[0]!.verity).toBe('yes');
    expect(d.mounts.map((m) => m.partition_uuid.replace(/-/g, '')).join('')).toBe(hash);
    copyFileSync(join(mwd, 'devtools.raw'), join(wd, 'devtools.raw'));
    const r = osb(['boot', '--image', '--no-dax', '--sysext', '--for', 'systemd', '--sysext-name', 'devtools', '--no-deps', ...common, '--boot-timeout', '400', '--ready-pattern', 'osb-sysext-check: done', '--', `osb.usrhash=${hash}`], { timeoutMs: 15 * 60_000 });
    const log = readFileSync(join(wd, 'logs/boot.log'), 'utf8');
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stderr}\n${log.slice(-4000)}`);
    expect(log).toMatch(/osb-sysext-check: merge: Using extensions 'devtools'/);
    expect(log).toMatch(/osb-sysext-check: status: \/usr +devtools/);
    expect(log).toContain('osb-sysext-check: hello: hello from the extension');
    expect(log).toMatch(/osb-sysext-check: verity devices: \S+ on loop\d+p1 loop\d+p2 ;/);
  });

  test('measured, with a flipped byte in its /usr partition: the guest kernel\'s dm-verity refuses it', () => {
    const img = join(wd, 'devtools.raw');
    const b = readFileSync(img);
    // The erofs superblock of partition 1 (at 1 MiB), which the merge reads first.
    b[1048576 + 1024 + 8] ^= 0xff;
    writeFileSync(img, b);
    const hash = readFileSync(join(dir, 'measured', 'devtools.usrhash'), 'utf8').trim();
    const r = osb(['boot', '--image', '--no-dax', '--sysext', '--no-deps', ...common, '--boot-timeout', '400', '--ready-pattern', 'osb-sysext-check: done', '--', `osb.usrhash=${hash}`], { timeoutMs: 15 * 60_000 });
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/^osb: boot failed: dm-verity found data that does not match the root hash \(.*device-mapper: verity: .*data block 0 is corrupted/);
  });

  test('an erofs root keeps the file capability its tree holds: the guest kernel reads erofs extended attributes', () => {
    const r = osb(['boot', '--image', '--no-dax', '--fs-type', 'erofs', ...common, '--boot-timeout', '400', '--ready-pattern', 'osb-sysext-check: done'], { timeoutMs: 15 * 60_000 });
    const log = readFileSync(join(wd, 'logs/boot.log'), 'utf8');
    if (r.code !== 0) throw new Error(`boot failed:\n${r.stderr}\n${log.slice(-4000)}`);
    expect(log).toMatch(/rootfstype=erofs/);
    expect(log).toContain('osb-sysext-check: caps: /usr/local/bin/osb-cap cap_net_raw=ep');
  });

  test('without a name to attach: one line, exit 2, before anything is built', () => {
    const r = osb(['boot', '--sysext', '--workdir', join(dir, 'unnamed')]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe('osb: osb sysext needs a name for the extension');
    const n = osb(['boot', '--sysext', '--no-deps', '--workdir', join(dir, 'unnamed')]);
    expect(n.code).toBe(2);
    expect(errorLine(n.stderr)).toBe('osb: osb boot --sysext attaches WORKDIR/NAME.raw, and no --sysext-name says which');
    expect(existsSync(join(dir, 'unnamed'))).toBe(false);
  });
});
