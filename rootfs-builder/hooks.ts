/**
 * User customisation hooks, run against the staged rootfs before it is finalised. `.mjs` hooks
 * run under node with zx's globals ($, fs, path, ...); anything else must be executable.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { BuildContext } from '../lib/context.js';
import { CommandError, OsbError } from '../lib/errors.js';

export async function checkHook(path: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new OsbError(`hook ${path} does not exist`, 'pass --hook the path of a script');
  }
  if (!st.isFile()) throw new OsbError(`hook ${path} is not a file`);
  if (!path.endsWith('.mjs')) {
    try {
      await access(path, constants.X_OK);
    } catch {
      throw new OsbError(`hook ${path} is not executable`, `chmod +x ${path}, or write it as an .mjs zx script`);
    }
  }
}

function zxGlobals(): string {
  return createRequire(import.meta.url).resolve('zx/globals');
}

export async function runHooks(ctx: BuildContext, hooks: readonly string[], rootfs: string, env: Record<string, string>): Promise<void> {
  for (const h of hooks) {
    const hook = resolve(h);
    ctx.log.info(`running hook ${hook}`);
    const argv = hook.endsWith('.mjs') ? [process.execPath, '--import', zxGlobals(), hook] : [hook];
    try {
      await ctx.run(argv, { env: { ...env, ROOTFS_DIR: rootfs }, cwd: rootfs });
    } catch (e) {
      if (e instanceof CommandError) {
        throw new OsbError(`hook ${hook} failed with exit code ${e.code}${e.tail.length ? `: ${e.tail[e.tail.length - 1]}` : ''}`, 'fix the hook; the previous rootfs was left as it was');
      }
      throw e;
    }
  }
}
