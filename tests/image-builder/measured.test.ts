/**
 * The measured rootfs without booting: the hash partition p2 is where the table says, the tree in
 * it is the one `veritysetup verify` accepts with root_hash.txt's values (read back by an
 * independent parser here), the salt and root hash follow the inputs, and the kernel line has
 * dm-init's verity table (Documentation/admin-guide/device-mapper/dm-init.rst, verity.rst).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type ImageOptions } from '../../image-builder/index.js';
import { hashTreeBytes } from '../../image-builder/verity.js';
import { osb } from '../helpers/cli.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { MiB, extractPartition, makeCtx, options, removeTempDirs, sfdiskJson, sh, sha256, tempDir } from './helpers.js';

let dir: string;
let rootfs: string;
let n = 0;
beforeAll(() => {
  dir = tempDir();
  rootfs = makeFixtureRootfs(join(dir, 'rootfs'));
});
afterAll(removeTempDirs);

async function build(o: Partial<ImageOptions>) {
  const out = join(dir, `out${n++}`);
  mkdirSync(out);
  const rootHash = join(out, 'root_hash.txt');
  const r = await buildImage(makeCtx(out), options(rootfs, join(out, 'osb.img'), { measured: true, rootHashOutput: rootHash, ...o }));
  return { ...r, out, rootHash };
}

/** root_hash.txt as key → value (split at the first '='), parsed here without osb's code. */
function readRootHash(path: string): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n').filter(Boolean)) kv[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  return kv;
}

/** p1 and p2 as files of their own, and `veritysetup verify` on them with the file's values. */
function verify(img: string, out: string, kv: Record<string, string>, rootHash = kv.root_hash!): { code: number | null; output: string } {
  const [p1, p2] = sfdiskJson(img).partitions;
  const data = extractPartition(img, p1!.start * 512, p1!.size * 512, join(out, 'p1'));
  const hash = extractPartition(img, p2!.start * 512, p2!.size * 512, join(out, 'p2'));
  const r = spawnSync('veritysetup', ['verify', '--no-superblock', `--hash=${kv.hash_algorithm}`, `--data-block-size=${kv.data_block_size}`, `--hash-block-size=${kv.hash_block_size}`, `--data-blocks=${kv.data_blocks}`, `--salt=${kv.salt}`, data, hash, rootHash], { encoding: 'utf8' });
  return { code: r.status, output: r.stdout + r.stderr };
}

describe('measured rootfs', () => {
  test.each(['ext4', 'erofs'] as const)('%s: p2 holds the hash tree; veritysetup verify passes with root_hash.txt, and fails with another root hash', async (fsType) => {
    const r = await build({ fsType });
    const kv = readRootHash(r.rootHash);
    expect(kv.root_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(kv.salt).toMatch(/^[0-9a-f]{64}$/);
    expect(kv).toMatchObject({ data_block_size: '4096', hash_block_size: '4096', hash_algorithm: 'sha256' });
    const { partitions } = sfdiskJson(r.path);
    expect(partitions).toHaveLength(2);
    const [p1, p2] = partitions;
    // The data is the whole root partition; p2 follows it and is a whole number of MiB.
    expect(Number(kv.data_blocks) * 4096).toBe(p1!.size * 512);
    expect(p2!.start).toBe(p1!.start + p1!.size);
    expect((p2!.size * 512) % MiB).toBe(0);
    expect(r.verity?.rootHash).toBe(kv.root_hash);
    expect(verify(r.path, r.out, kv).code).toBe(0);
    const wrong = verify(r.path, r.out, kv, kv.root_hash!.replace(/^./, (c) => (c === '0' ? '1' : '0')));
    expect(wrong.code).not.toBe(0);
  });

  test("Kata's kernel_verity_params and the dm-mod.create= line carry the same values", async () => {
    const r = await build({});
    const kv = readRootHash(r.rootHash);
    expect(kv.kernel_verity_params).toBe(`root_hash=${kv.root_hash},salt=${kv.salt},data_blocks=${kv.data_blocks},data_block_size=4096,hash_block_size=4096`);
    // <name>,<uuid>,<minor>,<flags>,<table>; table: 0 <sectors> verity 1 <dev> <hash_dev> <dbs> <hbs> <blocks> <hash_start> <alg> <digest> <salt>
    const sectors = (Number(kv.data_blocks) * 4096) / 512;
    expect(kv.kernel_cmdline).toBe(`dm-mod.create="root,,,ro,0 ${sectors} verity 1 /dev/vda1 /dev/vda2 4096 4096 ${kv.data_blocks} 0 sha256 ${kv.root_hash} ${kv.salt}" root=/dev/dm-0`);
  });

  test('two builds of the same inputs give the same root hash and the same bytes; another seed gives another salt and root hash', async () => {
    const a = await build({ seed: 'abc123' });
    const b = await build({ seed: 'abc123' });
    const c = await build({ seed: 'abc124' });
    const [ka, kb, kc] = [a, b, c].map((x) => readRootHash(x.rootHash));
    expect(kb!.root_hash).toBe(ka!.root_hash);
    expect(kb!.salt).toBe(ka!.salt);
    expect(sha256(b.path)).toBe(sha256(a.path));
    expect(kc!.salt).not.toBe(ka!.salt);
    expect(kc!.root_hash).not.toBe(ka!.root_hash);
  });

  test('GPT: p2 carries the UAPI "Root Verity Partition (x86-64)" type', async () => {
    const r = await build({ partitionTable: 'gpt', arch: 'x86_64' });
    const { partitions } = sfdiskJson(r.path);
    expect(partitions[1]!.type).toBe('2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5');
    expect(verify(r.path, r.out, readRootHash(r.rootHash)).code).toBe(0);
  });

  test('a measured image takes no DAX header: the builder refuses both', async () => {
    await expect(build({ dax: true })).rejects.toThrow(/DAX header/);
  });

  test("qemu's command line for a measured image: virtio-blk, no nvdimm, dm-mod.create= and root=/dev/dm-0 instead of /dev/vda1", async () => {
    const { qemuArgv } = await import('../../lib/qemu.js');
    const verityCmdline = 'dm-mod.create="root,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 0 sha256 ab cd" root=/dev/dm-0';
    const argv = qemuArgv({ kernel: 'K', accel: 'tcg', memoryMiB: 512, extraArgs: [], artifact: { kind: 'image', path: 'I', format: 'raw', fsType: 'erofs', nvdimm: true, sizeBytes: 8 << 20, verityCmdline } });
    expect(argv).toContain('file=I,format=raw,if=virtio,readonly=on');
    expect(argv.join(' ')).not.toMatch(/nvdimm|pmem/);
    const append = argv[argv.indexOf('-append') + 1]!;
    expect(append).toContain(verityCmdline);
    expect(append).not.toContain('root=/dev/vda1');
    expect(append).toMatch(/rootfstype=erofs ro/);
  });

  test('osb check-deps image --measured-rootfs asks for veritysetup (cryptsetup-bin); without it, not', () => {
    const names = (measured: boolean) => (JSON.parse(osb(['check-deps', 'image', ...(measured ? ['--measured-rootfs'] : []), '--json', '--workdir', join(dir, 'cd')]).stdout) as { checks: { name: string; packages?: { debian: string } }[] }).checks;
    expect(names(true).find((c) => c.name === 'veritysetup')?.packages?.debian).toBe('cryptsetup-bin');
    expect(names(false).some((c) => c.name === 'veritysetup')).toBe(false);
  });

  test('the hash partition size comes from the tree arithmetic veritysetup uses', () => {
    for (const blocks of [1, 128, 129, 2304, 16384, 16385, 262144]) {
      const f = join(dir, `tree${blocks}`);
      sh(['truncate', '-s', String(blocks * 4096), `${f}.data`]);
      const out = sh(['veritysetup', 'format', '--no-superblock', '--salt=00', `--data-blocks=${blocks}`, `${f}.data`, `${f}.hash`]);
      expect(hashTreeBytes(blocks)).toBe(Number(/Hash blocks:\s+(\d+)/.exec(out)![1]) * 4096);
    }
  });
});
