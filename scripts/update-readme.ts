/** Dev script (`npm run readme`): regenerate the README's tables of commands and options. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { updateReadme } from '../tasks/cli/help.js';
import { commandTable } from '../tasks/commands/index.js';

const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');
writeFileSync(readme, updateReadme(readFileSync(readme, 'utf8'), await commandTable()));
