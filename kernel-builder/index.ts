import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import type { Settings } from '../tasks/settings.js';
export async function kernelExtraInputs(_ctx: BuildContext, _s: Settings): Promise<Record<string, string>> {
  return {};
}
export async function runKernelTarget(_ctx: BuildContext, _s: Settings): Promise<void> {
  throw new OsbError('osb kernel is not built yet', 'coming in the kernel issue');
}
