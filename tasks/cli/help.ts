/**
 * `osb help` and the README's tables of commands and options, generated from the command table
 * and the settings table so they cannot drift (tests/tasks/readme.test.ts fails when the README
 * differs). The command table is passed in: this file lists commands, it does not load them.
 */
import { IMAGE_BUILD_KEYS } from './image-build-keys.js';
import { SETTINGS, defaultOf, flagOf, type Setting, type SettingGroup } from '../settings/table.js';
import { usageOf, type CommandSpec } from './command.js';

const GROUP_TITLES: Record<SettingGroup, string> = {
  global: 'Global options',
  rootfs: 'rootfs',
  image: 'image',
  initrd: 'initrd',
  kernel: 'kernel',
  boot: 'boot',
  oci: 'oci, bundle, squashfs',
  publish: 'publish',
};

function flagText(s: Setting): string {
  const value = s.type === 'boolean' ? '' : s.choices ? ` ${s.choices.join('|')}` : ` ${s.type === 'number' ? 'N' : 'VALUE'}`;
  return `${s.alias ? `${s.alias.length > 1 ? '--' : '-'}${s.alias}, ` : ''}${flagOf(s)}${value}`;
}

function envText(s: Setting): string {
  return s.env.map((e) => (e.invert ? `${e.name} (inverted)` : e.name)).join(', ');
}

/** The text of `osb help`: as Kata's `make help`, every variable with its default. */
export function renderHelp(commands: readonly CommandSpec[]): string {
  const lines: string[] = ['Usage: osb <command> [options]', '', 'Commands:'];
  const w = Math.max(...commands.map((c) => c.name.length));
  for (const c of commands) lines.push(`  ${c.name.padEnd(w)}  ${c.summary}`);
  lines.push(
    '',
    'Where a setting comes from, first found wins: flag > OSB_* env > Kata env name > osb.yaml (or --config FILE)',
    '> the workdir (settings earlier commands in it were given) > default. `osb config` shows each value and its source.',
    '`osb --version` prints the version of osb.',
    '',
    'Options and environment variables (booleans take yes/no):',
  );
  for (const g of Object.keys(GROUP_TITLES) as SettingGroup[]) {
    lines.push('', `${GROUP_TITLES[g]}:`);
    for (const s of SETTINGS.filter((x) => x.group === g)) {
      lines.push(`  ${flagText(s)}`);
      lines.push(`      ${s.describe}`);
      lines.push(`      default: ${defaultOf(s)}${s.env.length ? `   env: ${envText(s)}` : ''}`);
    }
  }
  lines.push('', 'Examples:', '  osb rootfs --distro debian --agent-init', '  AGENT_INIT=yes EXTRA_PKGS="iproute2" osb image', '  osb boot --initrd', '  osb oci && podman load -i workdir/osb-oci.tar');
  return lines.join('\n') + '\n';
}

const esc = (t: string) => t.replace(/\|/g, '\\|');

/** The README's options table (between the osb:options markers). */
export function renderOptionsTable(): string {
  const rows = ['| option | environment | default | what it does |', '|---|---|---|---|'];
  for (const s of SETTINGS) {
    rows.push(`| \`${esc(flagText(s))}\` | ${s.env.map((e) => `\`${e.name}\`${e.invert ? ' (inverted)' : ''}`).join(' ') || '—'} | ${esc(defaultOf(s))} | ${esc(s.describe)} |`);
  }
  return rows.join('\n');
}

/** The README's command table (between the osb:commands markers). */
export function renderCommandsTable(commands: readonly CommandSpec[]): string {
  const rows = ['| command | what it does |', '|---|---|'];
  for (const c of commands) rows.push(`| \`osb ${usageOf(c)}\` | ${esc(c.summary)} |`);
  return rows.join('\n');
}

/** The README's image-build table (between the osb:image-build markers). */
export function renderImageBuildTable(): string {
  const rows = ['| image-build key | what osb does with it |', '|---|---|'];
  for (const [k, v] of Object.entries(IMAGE_BUILD_KEYS)) rows.push(`| \`${k}\` | ${v.replace(/\|/g, '\\|')} |`);
  return rows.join('\n');
}

/** The generated tables of the README: the marker names, and what goes between them. */
const README_TABLES = [
  { name: 'image-build', source: 'tasks/cli/image-build-keys.ts', render: () => renderImageBuildTable() },
  { name: 'commands', source: 'the command table, tasks/commands/index.ts', render: renderCommandsTable },
  { name: 'options', source: 'tasks/settings/table.ts', render: () => renderOptionsTable() },
] as const;

export const beginMarker = (name: string, source: string) => `<!-- osb:${name}:begin (generated from ${source} by \`npm run readme\`) -->`;

/** README text with each generated table replaced by the one the tables give now. */
export function updateReadme(readme: string, commands: readonly CommandSpec[]): string {
  let out = readme;
  for (const t of README_TABLES) {
    const begin = beginMarker(t.name, t.source);
    const end = `<!-- osb:${t.name}:end -->`;
    const a = out.indexOf(begin);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`README has no osb:${t.name} markers`);
    out = out.slice(0, a + begin.length) + '\n' + t.render(commands) + '\n' + out.slice(b);
  }
  return out;
}
