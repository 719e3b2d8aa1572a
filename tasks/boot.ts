import type { BuildContext } from '../lib/context.js';
import { OsbError } from '../lib/errors.js';
import type { Settings } from './settings.js';
export async function runBootTarget(_ctx: BuildContext, _s: Settings): Promise<void> {
  throw new OsbError('osb boot is not built yet');
}
