/** Building targets: `osb rootfs`, `osb image`, ..., and the groups (`osb all`). */
import type { CommandRun } from '../cli/command.js';
import type { PlanStep } from '../engine/plan.js';
import { isMultiArch } from '../settings/arches.js';
import type { Settings } from '../settings/table.js';
import { groupTargets } from '../targets/index.js';
import { checkWorkdir, openWorkdir, planFor } from './workdir.js';

/** Nothing to build: say so per target as the runner would, without loading the runner. */
function reportUpToDate(steps: readonly PlanStep[], s: Settings): void {
  for (const step of steps) {
    const name = step.target.name;
    process.stdout.write(s.logFormat === 'ndjson' ? `${JSON.stringify({ time: new Date().toISOString(), event: 'skip', target: name, reason: 'up to date' })}\n` : `↓ ${name} [SKIPPED: up to date]\n`);
  }
}

export const run: CommandRun = async (cmd, { signal }) => {
  const s = cmd.settings;
  const requested = groupTargets(cmd.command, s) ?? [cmd.command];
  checkWorkdir(s);
  // --arch x86_64,aarch64: each architecture in WORKDIR/ARCH, then one image index.
  if (isMultiArch(s)) return (await import('./multi-arch.js')).runMultiArch(cmd, requested, { signal });
  // The key is opened while osb plans, and waited for before anything is built: a wrong
  // passphrase costs nothing. A publish alone waits for it only before it names a tag.
  const signer = s.signKey && !s.dryRun ? (await import('../targets/sign.js')).loadSigner(s.signKey) : undefined;
  // Planned first: bad input is refused before the workdir is created or locked.
  let steps = await planFor(requested, s, signal);
  if (s.dryRun) {
    await (await import('../engine/execute.js')).printDryRun(steps, { settings: s, signal });
    return 0;
  }
  const { waited, release } = await openWorkdir(cmd, signal);
  try {
    // Whoever held the workdir may have built what this plan would build.
    if (waited) steps = await planFor(requested, s, signal);
    // --cache-to still has work for an up-to-date cacheable target: the cache may lack it.
    const share = s.cacheTo !== undefined && steps.some((x) => x.target.cacheable);
    if (signer && steps.some((x) => x.action === 'build' && !x.target.alwaysRun)) await signer;
    if (steps.every((x) => x.action === 'skip') && !share) reportUpToDate(steps, s);
    else await (await import('../engine/execute.js')).execute(steps, { settings: s, signal });
    if (s.signKey) {
      const { signArtefacts, SIGNABLE } = await import('../targets/sign.js');
      const kinds = SIGNABLE.filter((k) => steps.some((x) => x.target.name === k));
      await signArtefacts(s, kinds, { info: (m) => void process.stdout.write(s.logFormat === 'ndjson' ? `${JSON.stringify({ time: new Date().toISOString(), event: 'signed', message: m })}\n` : `${m}\n`) });
    }
  } finally {
    await release();
  }
  return 0;
};

