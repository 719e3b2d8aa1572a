/**
 * A rootfs on a parent: the parent is unpacked once into the cache, and the steps run on an
 * overlay over it while it is copied into the stage. The oracle is the plain way: the same hook
 * run by hand on `cp -a` of the parent's tree. What a user would notice if the overlay were
 * wrong: a different tree (a lost deletion, a hard link that no longer shares the change, a lost
 * xattr or mode), a cache that a build changed, a mount or a scratch directory left behind.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/build-context.js';
import { osb } from '../helpers/cli.js';
import { isRoot, makeFixtureRootfs } from '../helpers/fixture-rootfs.js';

const run = isRoot ? describe : describe.skip;

/**
 * What the hook does: every kind of change an overlay has to carry back. It says what file
 * system it ran on in /etc/hook-saw (the one line that may differ from the plain run).
 */
const HOOK = `#!/bin/sh
set -eu
r=$ROOTFS_DIR
stat -f -c %T "$r" > "$r/etc/hook-saw"
echo changed >> "$r/var/lib/data/hello.txt"
chmod 4711 "$r/var/lib/data/setuid-tool"
rm "$r/etc/hostname"
rm -r "$r/usr/share/doc"
mkdir -p "$r/usr/share/doc" && echo new > "$r/usr/share/doc/only"
rm "$r/usr/bin/env" && mkdir "$r/usr/bin/env" && echo d > "$r/usr/bin/env/now-a-dir"
echo added > "$r/etc/added"
setfattr -n user.osb -v yes "$r/etc/added"
setfattr -n user.parent -v changed "$r/etc/passwd"
chmod 750 "$r/var/lib"
ln "$r/etc/added" "$r/etc/added-link"
mv "$r/usr/share/big" "$r/usr/share/big-renamed"
`;

/** Every file's inode -> how many names it has inside `root` (a rootfs on a parent shares files with the cache). */
function namesInTree(root: string): Map<number, number> {
  const count = new Map<number, number>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const st = lstatSync(join(root, rel, name));
      if (st.isDirectory()) walk(join(rel, name));
      else if (st.isFile()) count.set(st.ino, (count.get(st.ino) ?? 0) + 1);
    }
  };
  walk('');
  return count;
}

/** Every entry: kind, mode, owner, size, link target, content hash, xattrs and hard-link group (inside the tree); no times. */
function describeTree(root: string, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  const groups = new Map<number, string>();
  const names = namesInTree(root);
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      if (skip.includes(p)) continue;
      const st = lstatSync(join(root, p));
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? `link->${readlinkSync(join(root, p))}` : st.isFile() ? `file ${createHash('sha256').update(readFileSync(join(root, p))).digest('hex').slice(0, 12)}` : `special ${st.rdev}`;
      let group = '';
      if (st.isFile() && names.get(st.ino)! > 1) {
        if (!groups.has(st.ino)) groups.set(st.ino, p);
        group = ` linked-with ${groups.get(st.ino)}`;
      }
      const x = execFileSync('getfattr', ['--physical', '--absolute-names', '--dump', '--match', '.', join(root, p)], { encoding: 'utf8' }).split('\n').filter((l) => l && !l.startsWith('#')).join(',');
      out.push(`${p} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? '' : st.size}${group} ${x}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));

let tree: string;
let archive: string;
let hook: string;

beforeAll(() => {
  if (!isRoot) return;
  const d = tempDir('osb-overlay-');
  tree = makeFixtureRootfs(join(d, 'tree'));
  mkdirSync(join(tree, 'usr/share/doc/pkg'), { recursive: true });
  writeFileSync(join(tree, 'usr/share/doc/pkg/copyright'), 'old\n');
  mkdirSync(join(tree, 'usr/share/big/sub'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(tree, `usr/share/big/sub/f${i}`), `${i}\n`.repeat(100));
  execFileSync('setfattr', ['-n', 'user.parent', '-v', 'base', join(tree, 'etc/passwd')]);
  const wd = join(d, 'parent-wd');
  const built = osb(['oci', '--no-deps', '--rootfs-dir', tree, '--workdir', wd]);
  if (built.code !== 0) throw new Error(built.stderr);
  archive = join(wd, 'osb-oci.tar');
  hook = join(d, 'hook.sh');
  writeFileSync(hook, HOOK);
  chmodSync(hook, 0o755);
}, 120_000);

afterAll(() => removeTempDirs());

run('a rootfs on a parent, built on an overlay over the cached parent', () => {
  test('gives the tree the same hook gives on a plain copy of the parent, and leaves the cached parent as it was', () => {
    const plain = join(tempDir('osb-overlay-plain-'), 'rootfs');
    execFileSync('cp', ['-a', tree, plain]);
    execFileSync(hook, { env: { ...process.env, ROOTFS_DIR: plain } });

    const wd = tempDir('osb-overlay-wd-');
    const r = osb(['rootfs', '--parent', `oci-archive:${archive}`, '--no-agent', '--hook', hook, '--workdir', wd]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rootfs = join(wd, 'rootfs');
    // The hook ran on the overlay (so this test checks the overlay, not the fallback copy).
    expect(readFileSync(join(rootfs, 'etc/hook-saw'), 'utf8').trim()).toBe('overlayfs');
    const skip = ['etc/hook-saw', 'var/lib/osbuilder'];
    expect(describeTree(rootfs, skip)).toEqual(describeTree(plain, skip));
    // The change through one name of a hard link is under the other name too.
    expect(readFileSync(join(rootfs, 'var/lib/data/hello-link.txt'), 'utf8')).toContain('changed');

    // The cached parent is the parent's tree, unchanged by the build.
    const entries = readdirSync(join(wd, 'cache/base')).filter((n) => n.startsWith('parent-'));
    expect(entries).toHaveLength(1);
    expect(describeTree(join(wd, 'cache/base', entries[0]!, 'rootfs'))).toEqual(describeTree(tree));

    // Nothing left: no mount, no scratch directory beside the rootfs.
    expect(mountsUnder(wd)).toEqual([]);
    expect(readdirSync(wd).filter((n) => /\.osb-(tmp|stage|old)-\d+$/.test(n))).toEqual([]);

    // The next build takes the parent from the cache and gives the same tree.
    const again = osb(['rootfs', '--parent', `oci-archive:${archive}`, '--no-agent', '--hook', hook, '--workdir', wd, '--force']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/parent oci-archive:.*, unpacked, from the cache/);
    expect(again.stdout).not.toMatch(/unpacked parent layer/);
    expect(describeTree(rootfs, skip)).toEqual(describeTree(plain, skip));
  }, 300_000);

  test('a rootfs written into by hand: the next build on the parent notices the cache changed, unpacks it again, and has the parent\'s file', () => {
    const wd = tempDir('osb-overlay-edit-');
    const cache = join(wd, 'shared-cache');
    expect(osb(['rootfs', '--parent', `oci-archive:${archive}`, '--no-agent', '--workdir', join(wd, 'a'), '--cache-dir', cache]).code).toBe(0);
    // A write into a file the build did not change (it reaches every name of that file).
    writeFileSync(join(wd, 'a/rootfs/etc/hostname'), 'edited by hand\n', { flag: 'r+' });
    const r = osb(['rootfs', '--parent', `oci-archive:${archive}`, '--no-agent', '--workdir', join(wd, 'b'), '--cache-dir', cache]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: rootfs: parent oci-archive:.*, unpacked, in the cache .* was changed since it was made .*making it again/);
    expect(readFileSync(join(wd, 'b/rootfs/etc/hostname'), 'utf8')).toBe(readFileSync(join(tree, 'etc/hostname'), 'utf8'));
    const entries = readdirSync(join(cache, 'base')).filter((n) => /^parent-[0-9a-f]{16}$/.test(n));
    expect(describeTree(join(cache, 'base', entries[0]!, 'rootfs'))).toEqual(describeTree(tree));
    // And a build after that takes the new entry without a word.
    const c = osb(['rootfs', '--parent', `oci-archive:${archive}`, '--no-agent', '--workdir', join(wd, 'c'), '--cache-dir', cache]);
    expect(c.stderr).toBe('');
    expect(c.stdout).toMatch(/unpacked, from the cache/);
  }, 300_000);

  test('a failing hook leaves the previous rootfs, no mount and no scratch directory', () => {
    const wd = tempDir('osb-overlay-fail-');
    expect(osb(['rootfs', '--parent', `oci-archive:${archive}`, '--no-agent', '--workdir', wd]).code).toBe(0);
    const before = describeTree(join(wd, 'rootfs'));
    const bad = join(wd, '..', 'bad-hook.sh');
    writeFileSync(bad, '#!/bin/sh\nrm "$ROOTFS_DIR/etc/passwd"\necho "no network here" >&2\nexit 3\n');
    chmodSync(bad, 0o755);
    const r = osb(['rootfs', '--parent', `oci-archive:${archive}`, '--no-agent', '--hook', bad, '--workdir', wd]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/hook .*bad-hook\.sh failed/);
    expect(describeTree(join(wd, 'rootfs'))).toEqual(before);
    expect(existsSync(join(wd, 'rootfs/etc/passwd'))).toBe(true);
    expect(mountsUnder(wd)).toEqual([]);
    expect(readdirSync(wd).filter((n) => /\.osb-(tmp|stage|old)-\d+$/.test(n))).toEqual([]);
  }, 300_000);
});
