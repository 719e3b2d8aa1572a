/** osb bundle: runc runs the agent's smoke command from it; the tarball holds the same bundle. */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundle } from '../../oci-builder/index.js';
import { recordingReporter, removeTempDirs, tempDir } from '../helpers/build-context.js';
import { makeCtx, makeRichRootfs, snapshot, xattrDump } from './helpers.js';

afterAll(removeTempDirs);

/** What `osb bundle` starts for osb's smoke agent (tasks/targets/container.ts containerCommand). */
const SMOKE = ['/bin/sh', '-c', '/sbin/init; exit $?'];

describe('osb bundle', () => {
  let dir: string;
  let rootfs: string;
  beforeAll(async () => {
    dir = tempDir();
    rootfs = makeRichRootfs(join(dir, 'rootfs'));
    await buildBundle(makeCtx(dir), { rootfsDir: rootfs, bundleDir: join(dir, 'osb-bundle'), tarPath: join(dir, 'osb-bundle.tar'), args: SMOKE });
  });

  test('runc run starts the agent from the bundle, which prints its ready line and exits 0', () => {
    const id = `osb-test-${process.pid}`;
    const r = spawnSync('runc', ['run', '--bundle', join(dir, 'osb-bundle'), id], { encoding: 'utf8', timeout: 60_000 });
    spawnSync('runc', ['delete', '--force', id]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^osb-agent: ready uptime=/m);
    expect(r.status).toBe(0);
  });

  test('config.json is a runtime-spec config for rootfs/, read-only, with the args', () => {
    const spec = JSON.parse(readFileSync(join(dir, 'osb-bundle', 'config.json'), 'utf8'));
    expect(spec.ociVersion).toMatch(/^1\.0\./);
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.process.args).toEqual(SMOKE);
    expect(readdirSync(join(dir, 'osb-bundle')).sort()).toEqual(['config.json', 'rootfs']);
  });

  test('the bundle directory and the tarball both hold the rootfs as it is', () => {
    expect(snapshot(join(dir, 'osb-bundle', 'rootfs'))).toEqual(snapshot(rootfs));
    const back = join(dir, 'from-tar');
    mkdirSync(back);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', join(dir, 'osb-bundle.tar'), '-C', back]);
    expect(snapshot(join(back, 'rootfs'))).toEqual(snapshot(rootfs));
    expect(xattrDump(join(back, 'rootfs'))).toBe(xattrDump(rootfs));
    expect(readFileSync(join(back, 'config.json'))).toEqual(readFileSync(join(dir, 'osb-bundle', 'config.json')));
  });

  test('two builds give the same tarball', async () => {
    const other = tempDir();
    await buildBundle(makeCtx(other), { rootfsDir: rootfs, bundleDir: join(other, 'osb-bundle'), tarPath: join(other, 'osb-bundle.tar'), args: SMOKE });
    expect(readFileSync(join(other, 'osb-bundle.tar'))).toEqual(readFileSync(join(dir, 'osb-bundle.tar')));
  });

  test('under umask 077 the tarball is the same bytes (config.json and the top directory get their modes explicitly)', async () => {
    const other = tempDir();
    const saved = process.umask(0o077);
    try {
      await buildBundle(makeCtx(other), { rootfsDir: rootfs, bundleDir: join(other, 'osb-bundle'), tarPath: join(other, 'osb-bundle.tar'), args: SMOKE });
    } finally {
      process.umask(saved);
    }
    expect(readFileSync(join(other, 'osb-bundle.tar')).equals(readFileSync(join(dir, 'osb-bundle.tar')))).toBe(true);
  });

  test('--dry-run prints the copy and writes nothing', async () => {
    const d = tempDir();
    const rep = recordingReporter();
    await buildBundle(makeCtx(d, { dryRun: true, reporter: rep }), { rootfsDir: rootfs, bundleDir: join(d, 'osb-bundle'), tarPath: join(d, 'osb-bundle.tar'), args: SMOKE });
    expect(readdirSync(d)).toEqual([]);
    expect(rep.lines.join('\n')).toMatch(/would run: cp -a/);
  });
});
