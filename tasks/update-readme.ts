/** Dev script (`npm run readme`): regenerate the README's options table from the settings table. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { updateReadme } from './help.js';

const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');
writeFileSync(readme, updateReadme(readFileSync(readme, 'utf8')));
