/**
 * osb oci and osb publish with --arch x86_64,aarch64, as apko's --arch takes a list: each
 * architecture is built in WORKDIR/ARCH as a one-architecture build in that workdir would be (its
 * rootfs, its OCI layout with SBOM and provenance, its S3 artefacts; its own lock, record and
 * logs, so `osb boot --workdir WORKDIR/aarch64` takes it further), one after the other; then one
 * OCI image index names every image (WORKDIR/osb-oci, osb-oci.tar), and publish pushes and signs
 * the index and each image under the tags.
 */
import { UsageError } from '../../lib/errors.js';
import type { CommandEnv, ParsedCommand } from '../cli/command.js';
import type { PlanStep } from '../engine/plan.js';
import { archList, archSettings, MULTI_ARCH_TARGETS, requireOneArch } from '../settings/arches.js';
import type { Settings } from '../settings/table.js';
import { openWorkdir, planFor } from './workdir.js';

/** A step that always runs (the index, its push): planned here, not by inputs. */
const always = (s: Settings) => (target: PlanStep['target']): PlanStep => ({ target, action: 'build', reasons: ['always runs'], inputs: {}, values: {}, deps: target.deps(s) });

export async function runMultiArch(cmd: ParsedCommand, requested: readonly string[], { signal }: Pick<CommandEnv, 'signal'>): Promise<number> {
  const s = cmd.settings;
  if (requested.some((t) => !MULTI_ARCH_TARGETS.includes(t))) requireOneArch(s, `osb ${requested.join(' ')}`);
  if (s.rootfsDir) throw new UsageError(`--rootfs-dir names one tree, which cannot be the rootfs of ${archList(s).join(' and ')}`, 'drop --rootfs-dir: each architecture builds its rootfs in WORKDIR/ARCH (--parent gives each its platform of a multi-platform parent)');
  const publish = requested.includes('publish');
  if (publish) {
    const { validatePublish } = await import('../targets/publish.js');
    await validatePublish(s);
    if (s.publishS3 && s.s3Layout === 'image-build') throw new UsageError(`--s3-layout image-build names its objects without the architecture, so the ${archList(s).join(' and ')} artefacts would replace each other`, 'publish to S3 with the default layout (PREFIX NAME/TAG/ARCH/), or one architecture at a time');
  }
  const toRegistry = publish && (s.publishRegistry !== undefined || s.publishLocal);
  const arches = archList(s).map((a) => archSettings(s, a));
  // Each architecture's own targets: its image, and its S3 artefacts (published from its workdir).
  const own = [...(requested.includes('oci') || toRegistry ? ['oci'] : []), ...(publish && s.publishS3 ? ['publish'] : [])];
  const { indexTargets } = await import('../targets/index-image.js');
  const after = (requested.includes('oci') || toRegistry ? indexTargets(arches, toRegistry) : []).map(always(s));
  // Planned first, every architecture: bad input is refused before anything is written.
  const plans = await Promise.all(arches.map((a) => planFor(own, a, signal)));
  const exec = await import('../engine/execute.js');
  // Which workdir the lines after it are about: an architecture's, or the whole list's (the index).
  const heading = (a: Settings) => process.stdout.write(s.logFormat === 'ndjson' ? `${JSON.stringify({ time: new Date().toISOString(), event: 'arch', arch: a.arch, workdir: a.workdir })}\n` : `${a.arch} (${a.workdir}):\n`);
  if (s.dryRun) {
    for (const [i, a] of arches.entries()) {
      heading(a);
      await exec.printDryRun(plans[i]!, { settings: a, signal });
    }
    if (after.length) {
      heading(s);
      await exec.printDryRun(after, { settings: s, signal });
    }
    return 0;
  }
  const signer = s.signKey ? (await import('../targets/sign.js')).loadSigner(s.signKey) : undefined;
  const top = await openWorkdir(cmd, signal);
  try {
    for (const [i, a] of arches.entries()) {
      // Its own lock and record, as if built there: the given settings, its one arch and the shared cache.
      const lock = await openWorkdir({ ...cmd, settings: a, given: { ...cmd.given, arch: a.arch, cacheDir: a.cacheDir } }, signal);
      try {
        const steps = lock.waited || top.waited ? await planFor(own, a, signal) : plans[i]!;
        heading(a);
        if (signer && steps.some((x) => x.action === 'build' && !x.target.alwaysRun)) await signer;
        await exec.execute(steps, { settings: a, signal });
        if (s.signKey) {
          const { signArtefacts, SIGNABLE } = await import('../targets/sign.js');
          await signArtefacts(a, SIGNABLE.filter((k) => steps.some((x) => x.target.name === k)), { info: (m) => void process.stdout.write(`${m}\n`) });
        }
      } finally {
        await lock.release();
      }
    }
    if (after.length) {
      heading(s);
      await exec.execute(after, { settings: s, signal });
    }
  } finally {
    await top.release();
  }
  return 0;
}
