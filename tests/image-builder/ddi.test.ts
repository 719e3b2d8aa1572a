/**
 * GPT images as discoverable disk images (the UAPI group's DDI and DPS specs), with systemd's own
 * reader as the oracle: systemd-dissect (systemd 252, Debian's systemd-container) finds the root
 * partition by its type, reads the architecture from it and the guest's os-release from inside;
 * on a measured image it pairs root and root-verity by the UUIDs derived from the root hash.
 * systemd-dissect attaches the image to a loop device itself (root) and detaches it again.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type ImageOptions } from '../../image-builder/index.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { makeCtx, options, removeTempDirs, sfdiskJson, tempDir } from './helpers.js';

interface Dissected {
  osRelease?: string[];
  mounts: Array<{ designator: string; architecture: string | null; partition_uuid: string; fstype: string | null; verity: string | null }>;
}

/** systemd's name for the host's architecture. */
const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'x86-64';

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
  const rootHashOutput = join(out, 'root_hash.txt');
  const r = await buildImage(makeCtx(out), options(rootfs, join(out, 'osb.img'), { partitionTable: 'gpt', ...(o.measured ? { rootHashOutput } : {}), ...o }));
  const rootHash = o.measured ? /^root_hash=([0-9a-f]{64})$/m.exec(readFileSync(rootHashOutput, 'utf8'))![1]! : undefined;
  return { path: r.path, rootHash };
}

function dissect(img: string, extra: string[] = []): { code: number | null; json?: Dissected; stderr: string } {
  const r = spawnSync('systemd-dissect', ['--json=short', ...extra, img], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, ...(r.status === 0 ? { json: JSON.parse(r.stdout) as Dissected } : {}) };
}

describe('GPT images are discoverable disk images', () => {
  test.each(['ext4', 'erofs'] as const)('%s: systemd-dissect finds the root by its DPS type, with the architecture and the guest\'s os-release', async (fsType) => {
    const { path } = await build({ fsType });
    const r = dissect(path);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const root = r.json!.mounts.find((m) => m.designator === 'root');
    expect(root).toMatchObject({ architecture: HOST_ARCH, fstype: fsType });
    expect(r.json!.osRelease).toContain('ID=osb-fixture');
  });

  test('measured: root and root-verity, their UUIDs the halves of the root hash; --root-hash= with osb\'s hash opens root through verity, another is refused', async () => {
    const { path, rootHash } = await build({ measured: true });
    const p = sfdiskJson(path).partitions;
    const asUuid = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    expect(p[0]!.uuid!.toLowerCase()).toBe(asUuid(rootHash!.slice(0, 32)));
    expect(p[1]!.uuid!.toLowerCase()).toBe(asUuid(rootHash!.slice(32)));

    const plain = dissect(path);
    expect(plain.code).toBe(0);
    expect(plain.json!.mounts.map((m) => m.designator).sort()).toEqual(['root', 'root-verity']);
    expect(plain.json!.mounts.every((m) => m.architecture === HOST_ARCH)).toBe(true);

    const withHash = dissect(path, [`--root-hash=${rootHash}`]);
    expect(withHash.code).toBe(0);
    expect(withHash.json!.mounts.find((m) => m.designator === 'root')).toMatchObject({ verity: 'yes', architecture: HOST_ARCH });
    expect(withHash.json!.osRelease).toContain('ID=osb-fixture');

    const other = dissect(path, [`--root-hash=${'ab'.repeat(32)}`]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/No root partition for specified root hash found/);
  });
});
