/**
 * osb sysext --for kata: a Kata guest extension image. The oracles are the tools Kata's guest and
 * host use on it: sfdisk reads two partitions, veritysetup verify --no-superblock checks the
 * hash partition against the data partition with only the verity_params osb wrote, fsck.erofs
 * extracts the tree, and the TOML osb kata-config prints is Kata's guest_extension_images entry.
 * The boot, with Kata's guest-side mount, is in merge.slow.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import TOML from '@iarna/toml';
import { cleanEnv, errorLine, osb } from '../helpers/cli.js';

let dir: string;
let tree: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-kata-ext-'));
  tree = join(dir, 'tree');
  mkdirSync(join(tree, 'usr/local/bin'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'usr/local/bin/hello'), '#!/bin/sh\necho hello from coco\n', { mode: 0o755 });
  writeFileSync(join(tree, 'etc/ocicrypt_config.json'), '{}\n');
  // Enough blocks for a hash tree with blocks of its own (one data block has none: its hash is the root).
  writeFileSync(join(tree, 'usr/local/bin/payload'), Buffer.alloc(256 * 1024, 'coco'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(extra: string[] = [], t = tree) {
  const wd = join(dir, `wd${n++}`);
  const r = osb(['sysext', '--for', 'kata', '--sysext-tree', t, '--sysext-name', 'coco', '--workdir', wd, ...extra], { env: cleanEnv({ SOURCE_DATE_EPOCH: '1700000000' }) });
  return { ...r, wd, img: join(wd, 'coco.raw'), params: join(wd, 'coco.verity_params') };
}

/** The two partitions of the image, as byte ranges (sfdisk --json). */
function partitions(img: string): { start: number; size: number }[] {
  const t = JSON.parse(execFileSync('sfdisk', ['--json', img], { encoding: 'utf8' })) as { partitiontable: { label: string; partitions: { start: number; size: number }[] } };
  expect(t.partitiontable.label).toBe('dos');
  return t.partitiontable.partitions.map((p) => ({ start: p.start * 512, size: p.size * 512 }));
}

function extract(img: string, p: { start: number; size: number }, out: string): string {
  execFileSync('dd', [`if=${img}`, `of=${out}`, 'bs=1M', `skip=${p.start}`, `count=${p.size}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
  return out;
}

function veritysetupVerify(wd: string, img: string, params: string): { code: number; stderr: string } {
  const v = Object.fromEntries(params.trim().split(',').map((kv) => kv.split('=') as [string, string]));
  const [p1, p2] = partitions(img);
  const data = extract(img, p1!, join(wd, 'p1'));
  const hash = extract(img, p2!, join(wd, 'p2'));
  try {
    execFileSync('veritysetup', ['verify', '--no-superblock', `--data-blocks=${v.data_blocks}`, `--data-block-size=${v.data_block_size}`, `--hash-block-size=${v.hash_block_size}`, `--salt=${v.salt}`, data, hash, v.root_hash!], { stdio: 'pipe' });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stderr: Buffer };
    return { code: err.status, stderr: err.stderr.toString() };
  }
}

describe('osb sysext --for kata', () => {
  test('two partitions, erofs and its hash tree; veritysetup verifies them with the verity_params alone; the tree is in the erofs; no rootfs was built', () => {
    const r = build();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const params = readFileSync(r.params, 'utf8');
    expect(params).toMatch(/^root_hash=[0-9a-f]{64},salt=[0-9a-f]{64},data_blocks=\d+,hash_block_size=4096,data_block_size=4096\n$/);
    expect(Number(/data_blocks=(\d+)/.exec(params)![1])).toBeGreaterThan(64);
    expect(veritysetupVerify(r.wd, r.img, params)).toEqual({ code: 0, stderr: '' });
    const out = join(r.wd, 'x');
    execFileSync('fsck.erofs', [`--extract=${out}`, join(r.wd, 'p1')]);
    expect(readFileSync(join(out, 'usr/local/bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hello from coco\n');
    expect(readdirSync(out).sort()).toEqual(['etc', 'usr']);
    expect(existsSync(join(r.wd, 'rootfs'))).toBe(false);
    // A flipped byte in the data partition: the hash tree no longer verifies it.
    const [p1] = partitions(r.img);
    const b = readFileSync(r.img);
    b[p1!.start + 1024 + 8] ^= 0xff;
    writeFileSync(r.img, b);
    const bad = veritysetupVerify(r.wd, r.img, params);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Verification .*failed/);
  });

  test('same tree, same SOURCE_DATE_EPOCH: the same image and verity_params from another workdir', () => {
    const a = build();
    const b = build();
    expect(readFileSync(a.img).equals(readFileSync(b.img))).toBe(true);
    expect(readFileSync(a.params, 'utf8')).toBe(readFileSync(b.params, 'utf8'));
  });

  test("osb kata-config names it in Kata's guest_extension_images for qemu and clh", () => {
    const r = build();
    const k = osb(['kata-config', '--workdir', r.wd]);
    expect(k.code).toBe(0);
    const hv = (TOML.parse(k.stdout) as { hypervisor: Record<string, { guest_extension_images?: unknown }> }).hypervisor;
    const entry = [{ name: 'coco', path: r.img, verity_params: readFileSync(r.params, 'utf8').trim() }];
    expect(hv.qemu!.guest_extension_images).toEqual(entry);
    expect(hv.clh!.guest_extension_images).toEqual(entry);
    expect(hv.firecracker!.guest_extension_images).toBeUndefined();
  });

  test('verity_params changed by hand to carry a kernel argument: osb boot and osb kata-config refuse it in one line', () => {
    const r = build();
    writeFileSync(r.params, `${readFileSync(r.params, 'utf8').trim()} init=/bin/sh\n`);
    const line = `osb: ${r.params} is not the verity_params osb sysext --for kata writes`;
    const b = osb(['boot', '--image', '--no-dax', '--agent-init', '--sysext', '--dry-run', '--kernel', r.img, '--workdir', r.wd]);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain(line);
    expect(b.stdout).not.toContain('init=/bin/sh');
    const k = osb(['kata-config', '--workdir', r.wd]);
    expect(k.code).not.toBe(0);
    expect(errorLine(k.stderr)).toBe(line);
  });

  test.each([
    [['--sysext-name', 'confidential'], 'osb: "confidential" is not a Kata guest extension name'],
    [['--sysext-fs', 'squashfs'], 'osb: flag --sysext-fs: a Kata guest extension image is erofs, not squashfs'],
  ])('%j: one line, exit 2, nothing written', (extra, line) => {
    const r = build(extra);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe(line);
    expect(existsSync(r.wd)).toBe(false);
  });

  test('an empty tree: one line, exit 2', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = build([], empty);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toBe(`osb: the extension tree ${empty} is empty`);
  });
});
