/** sha256File remembers digests within a process: it must never return a digest of old bytes. */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileDigest, rememberDigest, rememberedSha256, sha256File } from '../../lib/hash.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'osb-hash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256sum = (p: string) => execFileSync('sha256sum', [p], { encoding: 'utf8' }).split(' ')[0];

test('a file rewritten in place with the same size and mtime is read again', async () => {
  const f = join(dir, 'same-size');
  writeFileSync(f, 'aaaa');
  const t = statSync(f).mtime;
  expect(await sha256File(f)).toBe(sha256sum(f));
  writeFileSync(f, 'bbbb');
  utimesSync(f, t, t); // size and mtime as before: only ctime tells the change
  expect(await sha256File(f)).toBe(sha256sum(f));
});

test('a digest taken before a rename is kept for the renamed file, and only if it is unchanged', async () => {
  const tmp = join(dir, '.out.tmp');
  const out = join(dir, 'out');
  writeFileSync(tmp, 'image bytes');
  const d = await fileDigest(tmp);
  renameSync(tmp, out);
  await rememberDigest(out, d);
  expect(await sha256File(out)).toBe(sha256sum(out));
  // Another file under the same name: the remembered digest does not apply to it.
  writeFileSync(tmp, 'other bytes');
  const stale = await fileDigest(tmp);
  writeFileSync(out, 'changed bytes'); // in place: new mtime and ctime
  await rememberDigest(out, stale);
  expect(await sha256File(out)).toBe(sha256sum(out));
});

test('a digest remembered across runs is never that of old bytes: in place with the same size and mtime, or replaced; a broken memo only costs a read', async () => {
  const f = join(dir, 'parent.tar');
  const memo = join(dir, 'memo', 'archive-sha256.json');
  writeFileSync(f, 'first archive');
  expect(await rememberedSha256(f, memo)).toBe(sha256sum(f));
  const t = statSync(f).mtime;
  writeFileSync(f, 'other archive', { flag: 'r+' });
  utimesSync(f, t, t);
  expect(await rememberedSha256(f, memo)).toBe(sha256sum(f));
  const next = join(dir, 'parent.tar.new');
  writeFileSync(next, 'third archive');
  utimesSync(next, t, t);
  renameSync(next, f);
  expect(await rememberedSha256(f, memo)).toBe(sha256sum(f));
  writeFileSync(memo, '{ not json');
  expect(await rememberedSha256(f, memo)).toBe(sha256sum(f));
});
