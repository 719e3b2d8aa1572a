#!/bin/sh
/**
 * What `osb` runs (dist/tasks/main.cjs): it loads the bundled command line (dist/tasks/osb.cjs,
 * scripts/bundle.ts) with V8's code cache, so a command does not compile osb's code again on
 * every run.
 *
 * Why by hand: Node 22 has module.enableCompileCache(), but osb runs on Node 18 and 20 as well
 * (Debian 12 ships 18), where only vm.Script takes a code cache. Compiling the bundle was the
 * largest part of the time before the first tool starts (issue 28's trace: ~0.3 s of ~0.7 s).
 *
 * The cache is per command (and signing or not) and Node version in ~/.cache/osb/code/ ($XDG_CACHE_HOME/osb), named
 * after the bundle's sha256 (fixed when the bundle is built) and its size and mtime, so a rebuilt
 * or edited bundle never meets an old cache. A command has two: one written by a run that built
 * something (the engine says so, BUILT below), which holds the builders' code, and one by a run
 * that did not (up to date, --dry-run, a refusal's exit 0); a run takes the first that exists. V8 checks its own version and flags and
 * rejects a cache that does not fit; osb then compiles as without one. The cache is written
 * after a command that succeeded, only when none was used, and only into a directory owned by
 * the user and writable by nobody else; a file another user could have written is not read.
 * Writing a cache removes those of other bundles. OSB_CODE_CACHE=0 turns it off.
 */
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { deferExtraCa } from '../lib/extra-ca.js';
import { startKeyDerivation } from '../signing/kdf.js';

declare const __OSB_BUNDLE_SHA256__: string;

// NODE_EXTRA_CA_CERTS, if the first line moved it aside: back in the environment, trusted from the first TLS connection.
deferExtraCa();
const bundle = join(dirname(fileURLToPath(import.meta.url)), 'osb.cjs');
// A signing run's scrypt starts now, in a worker thread of the lowest priority, while the bundle loads (signing/kdf.ts).
startKeyDerivation(process.argv.slice(2), process.env);
// The bundle is ASCII (scripts/bundle.ts checks): read as latin1, it is copied, not decoded.
const source = readFileSync(bundle, 'latin1');

/**
 * The first word that is not an option: the command, so each command's cache holds its own code.
 * A signing run (--sign-key, OSB_SIGN_KEY) runs the signing code as well, which a cache written by
 * an unsigned run of the same command lacks: it keeps a cache of its own.
 */
const signs = process.argv.some((a) => a === '--sign-key' || a.startsWith('--sign-key=')) || Boolean(process.env.OSB_SIGN_KEY);
const command = (process.argv.slice(2).find((a) => !a.startsWith('-')) ?? 'none').replace(/[^a-z0-9-]/gi, '_').slice(0, 40) + (signs ? '-signed' : '');

/** Set by the engine (tasks/engine/execute.ts) when a target's build ran in this process. */
const BUILT = Symbol.for('osb.built');

function cacheBase(): string | undefined {
  if (/^(0|no|false|off)$/i.test(process.env.OSB_CODE_CACHE ?? '')) return undefined;
  const st = statSync(bundle);
  const base = process.env.XDG_CACHE_HOME || join(process.env.HOME || homedir(), '.cache');
  return join(base, 'osb', 'code', `${__OSB_BUNDLE_SHA256__.slice(0, 16)}-${st.size}-${Math.trunc(st.mtimeMs)}-node${process.versions.v8}-${command}`);
}

/** Ours alone: owned by this user, writable by nobody else, not a link. */
const private_ = (st: { uid: number; mode: number }) => (process.getuid === undefined || st.uid === process.getuid()) && (st.mode & 0o022) === 0;

function readCache(file: string): Buffer | undefined {
  try {
    const dir = lstatSync(dirname(file));
    if (!dir.isDirectory() || !private_(dir)) return undefined;
    const fd = openSync(file, 'r');
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || !private_(st)) return undefined;
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined; // no cache yet, or not one to trust: compile as without one
  }
}

/** The caches of bundles that are no longer this one: only files named as this launcher names them. */
const CACHE_NAME = /^[0-9a-f]{16}-\d+-\d+-node.+\.(full|light)\.bin$/;

function writeCache(file: string, data: Buffer): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const dir = lstatSync(dirname(file));
    if (!dir.isDirectory() || !private_(dir)) return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
    const current = basename(file).split('-node')[0]!;
    for (const name of readdirSync(dirname(file))) if (CACHE_NAME.test(name) && !name.startsWith(`${current}-node`)) rmSync(join(dirname(file), name), { force: true });
  } catch {
    // a read-only or foreign home: osb works the same without the cache
  }
}

const base = cacheBase();
const full = base && readCache(`${base}.full.bin`);
const cachedData = full || (base && readCache(`${base}.light.bin`)) || undefined;
// The bundle is CommonJS (no import.meta, no top-level await, no import(): scripts/bundle.ts): it
// runs in the module wrapper.
const script = new Script(Module.wrap(source.replace(/^#!.*/, '')), { filename: bundle, cachedData });
const mod = new Module(bundle);
mod.filename = bundle;
const run = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
if (base && (!full || script.cachedDataRejected)) {
  process.once('exit', (code) => {
    const built = (globalThis as Record<symbol, unknown>)[BUILT] === true;
    if (code !== 0 || (!built && cachedData && !script.cachedDataRejected)) return;
    writeCache(`${base}.${built ? 'full' : 'light'}.bin`, script.createCachedData());
  });
}
run.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
