import type { ParsedCommand } from '../tasks/cli.js';
import { OsbError } from '../lib/errors.js';
export async function installKernelCommand(_cmd: ParsedCommand): Promise<number> {
  throw new OsbError('osb install-kernel is not built yet');
}
