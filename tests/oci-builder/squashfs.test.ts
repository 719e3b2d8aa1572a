/** osb squashfs: unsquashfs lists the rootfs, two builds give the same bytes, the boot tree is complete. */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildSquashfs, writeSquashfsBootTree } from '../../oci-builder/index.js';
import { removeTempDirs, recordingReporter, SDE, tempDir } from '../helpers/build-context.js';
import { makeCtx, makeRichRootfs } from './helpers.js';

afterAll(removeTempDirs);

/** `find -printf` in unsquashfs -lls's shape: mode string, owner, size or device, name. */
function findListing(root: string): string[] {
  const out = execFileSync('find', ['.', '-mindepth', '1', '-printf', '%M %U/%G %s %p %l\\n'], { cwd: root, encoding: 'utf8' });
  return out.trim().split('\n').map((l) => {
    const [mode, owner, size, path, target] = l.split(' ');
    const kind = mode![0];
    const sz = kind === 'c' || kind === 'b' ? 'dev' : kind === 'd' ? '-' : size;
    return `${mode} ${owner} ${sz} ${path!.slice(2)}${target ? ` -> ${target}` : ''}`;
  }).sort();
}

function unsquashfsListing(image: string): string[] {
  const out = execFileSync('unsquashfs', ['-lln', '-d', '', image], { encoding: 'utf8' });
  return out.trim().split('\n').filter((l) => /^[-dlcbps][rwxsStT-]{9} /.test(l)).map((l) => {
    const m = /^(\S+) (\d+)\/(\d+)\s+(.+?) (\d{4}-\d\d-\d\d \d\d:\d\d) (.*)$/.exec(l)!;
    const kind = m[1]![0];
    const sz = kind === 'c' || kind === 'b' ? 'dev' : kind === 'd' ? '-' : m[4];
    return `${m[1]} ${m[2]}/${m[3]} ${sz} ${m[6]!.replace(/^\//, '')}`;
  }).filter((l) => !/ $/.test(l)).sort();
}

describe('osb squashfs', () => {
  let dir: string;
  let rootfs: string;
  beforeAll(async () => {
    dir = tempDir();
    rootfs = makeRichRootfs(join(dir, 'rootfs'));
    await buildSquashfs(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'a.squashfs') });
  });

  test('unsquashfs -lls lists the rootfs: modes, numeric owners, sizes, link targets', () => {
    const listed = unsquashfsListing(join(dir, 'a.squashfs'));
    expect(listed).toEqual(findListing(rootfs));
    expect(listed.some((l) => l.startsWith('crw'))).toBe(true);
    expect(listed.some((l) => l.startsWith('prw-r--r-- 1000/1000'))).toBe(true);
    expect(listed.some((l) => l.startsWith('-rwsr-xr-x'))).toBe(true);
  });

  test('every time in it is SOURCE_DATE_EPOCH, and two builds give the same bytes', async () => {
    const out = execFileSync('unsquashfs', ['-lls', '-UTC', join(dir, 'a.squashfs')], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    const when = new Date(SDE * 1000).toISOString().slice(0, 16).replace('T', ' ');
    const lines = out.split('\n').filter((l) => /^[-dlcbp][rwxsStT-]{9}/.test(l));
    expect(lines.length).toBeGreaterThan(10);
    for (const l of lines) expect(l).toContain(when);
    await buildSquashfs(makeCtx(dir), { rootfsDir: rootfs, output: join(dir, 'b.squashfs') });
    expect(readFileSync(join(dir, 'b.squashfs'))).toEqual(readFileSync(join(dir, 'a.squashfs')));
  });

  test('the boot tree holds a static busybox and an /init that switches into the overlay', async () => {
    const tree = join(tempDir(), 'tree');
    await writeSquashfsBootTree(tree);
    expect(readdirSync(tree).sort()).toEqual(['bin', 'dev', 'init', 'proc', 'sys']);
    expect(statSync(join(tree, 'init')).mode & 0o777).toBe(0o755);
    const init = readFileSync(join(tree, 'init'), 'utf8');
    expect(init).toMatch(/mount -t overlay overlay -o lowerdir=\/lower,upperdir=\/rw\/upper,workdir=\/rw\/work \/newroot/);
    expect(init).toMatch(/exec switch_root \/newroot \/sbin\/init/);
    // The script is valid sh (busybox's own parser).
    execFileSync(join(tree, 'bin', 'busybox'), ['sh', '-n', join(tree, 'init')]);
  });

  test('the boot tree has the same modes under umask 077', async () => {
    const tree = join(tempDir(), 'tree');
    const saved = process.umask(0o077);
    try {
      await writeSquashfsBootTree(tree);
    } finally {
      process.umask(saved);
    }
    const modes = ['.', 'bin', 'bin/busybox', 'dev', 'init', 'proc', 'sys'].map((p) => [p, (statSync(join(tree, p)).mode & 0o7777).toString(8)]);
    expect(modes).toEqual([['.', '755'], ['bin', '755'], ['bin/busybox', '755'], ['dev', '755'], ['init', '755'], ['proc', '755'], ['sys', '755']]);
  });

  test('a dynamically linked busybox is refused with the package to install', async () => {
    await expect(writeSquashfsBootTree(join(tempDir(), 'tree'), '/bin/ls')).rejects.toThrow(/not statically linked/);
  });

  test('--dry-run prints the mksquashfs command and writes nothing', async () => {
    const d = tempDir();
    const rep = recordingReporter();
    await buildSquashfs(makeCtx(d, { dryRun: true, reporter: rep }), { rootfsDir: rootfs, output: join(d, 'x.squashfs') });
    expect(readdirSync(d)).toEqual([]);
    expect(rep.lines.join('\n')).toMatch(/would run: mksquashfs .* -noappend -comp zstd/);
  });
});
