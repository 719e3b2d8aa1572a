/**
 * The leftovers of killed runs (lib/stale.ts): a temp whose process is gone goes, one whose
 * process runs stays, one whose pid now belongs to a newer process goes, a name without a pid
 * goes only from a locked workdir, and nothing that is not an osb temp is ever touched.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { clearCache, findTemps, ownerGone, ownerGoneAt, sweepStaleTemps } from '../../lib/stale.js';

/** A pid no process has now (a child that ran and exited). */
const deadPid = (): number => Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());

let sleeper: ChildProcess;
beforeAll(() => {
  sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
});
afterAll(() => {
  sleeper.kill();
  removeTempDirs();
});

function populate(dir: string, names: readonly string[]): void {
  for (const n of names) {
    if (n.endsWith('/')) mkdirSync(join(dir, n), { recursive: true });
    else writeFileSync(join(dir, n), 'x');
  }
}

describe('sweepStaleTemps', () => {
  test('removes the temps of dead processes, keeps live ones and everything that is not an osb temp', async () => {
    const dir = tempDir('osb-stale-');
    const dead = deadPid();
    const live = sleeper.pid!;
    populate(dir, [
      `.osb.img.osb-tmp-${dead}`, `.rootfs.osb-stage-${dead}/`, `.rootfs.osb-old-${dead}/`, `debian-bookworm-amd64-0123456789abcdef.osb-tmp-${dead}/`,
      `.osb.squashfs.osb-tmp-${live}`, 'osb.img', 'notes.osb-tmp-x', 'rootfs/', `lock.${dead}.tmp`, `lock.stale-${dead}`,
      '.osb-cache-in-rootfs/', '.osb-cache-out-image/', '.squashfs-boot-tree-Ab12Cd/',
    ]);
    mkdirSync(join(dir, `.rootfs.osb-stage-${dead}`, 'usr', 'bin'), { recursive: true });
    await sweepStaleTemps(dir);
    expect(readdirSync(dir).sort()).toEqual(
      ['.osb-cache-in-rootfs', '.osb-cache-out-image', `.osb.squashfs.osb-tmp-${live}`, '.squashfs-boot-tree-Ab12Cd', 'notes.osb-tmp-x', 'osb.img', 'rootfs'].sort(),
    );
    // Names without a pid belong to whoever holds the workdir's lock.
    await sweepStaleTemps(dir, { locked: true });
    expect(readdirSync(dir).sort()).toEqual([`.osb.squashfs.osb-tmp-${live}`, 'notes.osb-tmp-x', 'osb.img', 'rootfs'].sort());
  });

  test('a live pid whose process started after the temp last changed did not write it (pid reuse)', () => {
    const changed = Date.parse('2026-01-01T12:00:00Z');
    expect(ownerGoneAt(undefined, changed)).toBe(true); // no such process
    expect(ownerGoneAt(changed - 60_000, changed)).toBe(false); // started before: may be the writer
    expect(ownerGoneAt(changed + 1_000, changed)).toBe(false); // within the clock's slack
    expect(ownerGoneAt(changed + 60_000, changed)).toBe(true); // started after: a reused pid
  });

  test("a temp's old mtime (a tar's, SOURCE_DATE_EPOCH's) does not make a running owner look gone", async () => {
    const dir = tempDir('osb-stale-mtime-');
    const live = sleeper.pid!;
    populate(dir, [`.rootfs.osb-stage-${live}/`]);
    const past = new Date('2001-01-01T00:00:00Z');
    utimesSync(join(dir, `.rootfs.osb-stage-${live}`), past, past);
    expect(await ownerGone(live, join(dir, `.rootfs.osb-stage-${live}`))).toBe(false);
    await sweepStaleTemps(dir);
    expect(readdirSync(dir)).toEqual([`.rootfs.osb-stage-${live}`]);
  });

  test('a prefix limits the sweep to one output\'s siblings; depth goes into subdirectories, never through links', async () => {
    const dir = tempDir('osb-stale-depth-');
    const dead = deadPid();
    populate(dir, [`.guest.osb-stage-${dead}/`, `.other.osb-stage-${dead}/`, 'base/', 'elsewhere/']);
    populate(join(dir, 'base'), [`k.osb-tmp-${dead}/`, 'k/']);
    populate(join(dir, 'elsewhere'), [`kept.osb-tmp-${dead}`]);
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link'));
    await sweepStaleTemps(dir, { prefix: '.guest.osb-' });
    expect(existsSync(join(dir, `.guest.osb-stage-${dead}`))).toBe(false);
    expect(existsSync(join(dir, `.other.osb-stage-${dead}`))).toBe(true);
    await sweepStaleTemps(join(dir, 'base'));
    expect(readdirSync(join(dir, 'base'))).toEqual(['k']);
    const sub = tempDir('osb-stale-link-');
    symlinkSync(join(dir, 'elsewhere'), join(sub, 'debs'));
    await sweepStaleTemps(sub, { depth: 2 });
    expect(existsSync(join(dir, 'elsewhere', `kept.osb-tmp-${dead}`))).toBe(true);
    expect(await findTemps(dir, 1)).toEqual(expect.arrayContaining([join(dir, `.other.osb-stage-${dead}`), join(dir, 'elsewhere', `kept.osb-tmp-${dead}`)]));
  });
});

describe('clearCache (osb clean --cache)', () => {
  test("empties osb's cache directories, keeps a running build's temp, removes a link but not what it points to, and leaves other files", async () => {
    const cache = tempDir('osb-clear-cache-');
    const shared = tempDir('osb-clear-shared-');
    const dead = deadPid();
    const live = sleeper.pid!;
    populate(cache, ['base/', 'kernel-src/', 'mine.txt']);
    populate(join(cache, 'base'), ['debian-bookworm-amd64-0123456789abcdef/', `debian-x.osb-tmp-${dead}/`, `debian-y.osb-tmp-${live}/`]);
    populate(join(cache, 'kernel-src'), ['linux-6.1.tar.xz']);
    populate(shared, ['hello_2.10-3_amd64.deb']);
    symlinkSync(shared, join(cache, 'debs'));
    const kept = await clearCache(cache, ['base', 'debs', 'apk', 'kernel-src']);
    expect(kept).toEqual([join(cache, 'base', `debian-y.osb-tmp-${live}`)]);
    expect(readdirSync(join(cache, 'base'))).toEqual([`debian-y.osb-tmp-${live}`]);
    expect(readdirSync(cache).sort()).toEqual(['base', 'mine.txt']);
    expect(readdirSync(shared)).toEqual(['hello_2.10-3_amd64.deb']);
  });
});
