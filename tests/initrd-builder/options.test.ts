/**
 * The options a user sets: agentInit (without touching the rootfs), --initrd-extra overlays,
 * --owner, --dry-run; and osb's own marker file staying out of the guest.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitrd } from '../../initrd-builder/index.js';
import { OWNER_MARKER } from '../../lib/atomic.js';
import { makeFixtureRootfs } from '../helpers/fixture-rootfs.js';
import { cpioList, makeCtx, parseNewc, recordingReporter, removeTempDirs, snapshot, tempDir } from './helpers.js';

afterAll(removeTempDirs);

function fixture(o?: { agentInit?: boolean }): { dir: string; rootfs: string } {
  const dir = tempDir();
  return { dir, rootfs: makeFixtureRootfs(join(dir, 'rootfs'), o) };
}
const entriesOf = (file: string) => new Map(parseNewc(readFileSync(file)).entries.map((e) => [e.name, e]));

describe('initrd options', () => {
  test('agentInit adds /init to the archive and leaves the rootfs exactly as it was', async () => {
    const { dir, rootfs } = fixture();
    const before = snapshot(rootfs);
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'i.cpio'), compression: 'none', agentInit: true });
    expect(snapshot(rootfs)).toEqual(before);
    expect(existsSync(join(rootfs, 'init'))).toBe(false);
    expect(entriesOf(r.path).get('init')!.data.toString()).toBe('/sbin/init');
  });

  test("a rootfs's own /init is kept, with or without agentInit", async () => {
    const { dir, rootfs } = fixture();
    writeFileSync(join(rootfs, 'init'), '#!/bin/sh\nexec /sbin/init\n');
    chmodSync(join(rootfs, 'init'), 0o755);
    for (const agentInit of [true, false]) {
      const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, `own-${agentInit}.cpio`), compression: 'none', agentInit });
      const init = entriesOf(r.path).get('init')!;
      expect([init.mode, init.data.toString()]).toEqual([0o100755, '#!/bin/sh\nexec /sbin/init\n']);
    }
  });

  test('--initrd-extra trees are laid over the rootfs in order; their entries win, directories merge', async () => {
    const { dir, rootfs } = fixture();
    const extra1 = join(dir, 'extra1');
    const extra2 = join(dir, 'extra2');
    mkdirSync(join(extra1, 'etc'), { recursive: true });
    mkdirSync(join(extra1, 'opt/tools'), { recursive: true });
    mkdirSync(join(extra2, 'etc'), { recursive: true });
    writeFileSync(join(extra1, 'etc/hostname'), 'from-extra1\n');
    writeFileSync(join(extra1, 'opt/tools/t'), 'tool\n');
    writeFileSync(join(extra2, 'etc/hostname'), 'from-extra2\n');
    symlinkSync('hostname', join(extra2, 'etc/passwd')); // a file replaced by a symlink
    chmodSync(join(extra2, 'etc'), 0o750);
    chmodSync(extra2, 0o700); // its own top directory is not the guest's /
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'x.cpio'), compression: 'none', agentInit: true, extraDirs: [extra1, extra2] });
    const e = entriesOf(r.path);
    expect(e.get('etc/hostname')!.data.toString()).toBe('from-extra2\n');
    expect(e.get('opt/tools/t')!.data.toString()).toBe('tool\n');
    expect(e.get('etc/passwd')!.data.toString()).toBe('hostname');
    expect(e.get('etc')!.mode).toBe(0o40750);
    expect(e.get('.')!.mode).toBe(0o40755);
    expect(e.has('bin/busybox')).toBe(true);
    expect(cpioList(r.path).filter((n) => n === 'etc/hostname')).toHaveLength(1);
    expect(r.entries).toBe(e.size);
  });

  test("osb's ownership marker at the top of the rootfs is not archived", async () => {
    const { dir, rootfs } = fixture();
    writeFileSync(join(rootfs, OWNER_MARKER), 'created by osb\n');
    writeFileSync(join(rootfs, 'etc', OWNER_MARKER), 'a file of the same name deeper down is the guest\'s\n');
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'm.cpio'), compression: 'none', agentInit: true });
    const names = cpioList(r.path);
    expect(names).not.toContain(OWNER_MARKER);
    expect(names).toContain(`etc/${OWNER_MARKER}`);
  });

  test('--owner forces every entry to one owner', async () => {
    const { dir, rootfs } = fixture();
    const r = await buildInitrd(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'o.cpio'), compression: 'none', agentInit: true, owner: { uid: 123, gid: 456 } });
    const owners = new Set([...entriesOf(r.path).values()].map((e) => `${e.uid}:${e.gid}`));
    expect([...owners]).toEqual(['123:456']);
  });

  test('--dry-run writes nothing and says what it would write and run', async () => {
    const { dir, rootfs } = fixture();
    const out = join(dir, 'out');
    const rep = recordingReporter();
    const r = await buildInitrd(makeCtx(dir, { dryRun: true, reporter: rep }), { rootfsDir: rootfs, output: join(out, 'osb-initrd.img'), compression: 'zstd', agentInit: true });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['rootfs']);
    expect(rep.lines).toEqual([
      `would write ${join(out, 'osb-initrd.img')}: cpio newc archive of ${rootfs} (${r.entries} entries), zstd -T0 -q -f -o FILE, its frames walked to the end once written`,
      `would run: zstd -T0 -q -f -o ${join(out, 'osb-initrd.img')}`,
    ]);
    expect(r.entries).toBe(cpioEntriesOfFixture(rootfs));
  });

  test('--dry-run before the rootfs exists still plans, and still rejects bad options', async () => {
    const dir = tempDir();
    const rep = recordingReporter();
    const ctx = makeCtx(dir, { dryRun: true, reporter: rep });
    const r = await buildInitrd(ctx, { rootfsDir: join(dir, 'rootfs'), output: join(dir, 'i.img'), compression: 'gzip', agentInit: true });
    expect(r).toEqual({ path: join(dir, 'i.img'), entries: 0, bytes: 0, compression: 'gzip' });
    expect(rep.lines[1]).toBe('would run: pigz -n -c');
    await expect(buildInitrd(ctx, { rootfsDir: join(dir, 'rootfs'), output: join(dir, 'i.img'), compression: 'zip' as never, agentInit: true })).rejects.toThrow(/unknown compression "zip"/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

/** Entries a real build of the fixture has (to check the dry-run count against). */
function cpioEntriesOfFixture(rootfs: string): number {
  return snapshot(rootfs).size + 1; // + the /init agentInit adds
}
