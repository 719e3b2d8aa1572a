/** --publish-local: the oci-archive into the local podman store (`podman load`), then the extra tags. */
import type { BuildContext } from '../lib/context.js';

export interface LocalOptions {
  readonly archivePath: string;
  /** The name `podman load` gives the image (the archive's ref.name). */
  readonly ref: string;
  /** Extra tags to add to it (NAME:TAG each). @default [] */
  readonly alsoAs?: readonly string[];
}

/**
 * Variables podman reads to find its store and configuration: passed through so a rootless
 * user's (or a test's) own store is the one loaded into.
 */
const PODMAN_ENV = ['CONTAINERS_STORAGE_CONF', 'CONTAINERS_CONF', 'CONTAINERS_REGISTRIES_CONF', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME'];

export function podmanEnv(environ: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(PODMAN_ENV.filter((k) => environ[k] !== undefined).map((k) => [k, environ[k]!]));
}

export async function publishLocal(ctx: BuildContext, o: LocalOptions): Promise<void> {
  const env = podmanEnv();
  await ctx.run(['podman', 'load', '-i', o.archivePath], { env, hint: 'podman could not load the archive; see the log' });
  for (const t of o.alsoAs ?? []) if (t !== o.ref) await ctx.run(['podman', 'tag', o.ref, t], { env });
  if (!ctx.dryRun) ctx.log.info(`loaded ${[o.ref, ...(o.alsoAs ?? []).filter((t) => t !== o.ref)].join(', ')} into the local podman store`);
}
