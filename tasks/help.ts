/**
 * `osb help` and the README's options table, both generated from the settings table so they
 * cannot drift (tests/tasks/readme.test.ts fails when the README differs).
 */
import { SETTINGS, flagOf, type Setting, type SettingGroup } from './settings.js';

export interface CommandInfo {
  readonly name: string;
  readonly describe: string;
}

/** Commands in the order help shows them; targets first. */
export const COMMANDS: readonly CommandInfo[] = [
  { name: 'rootfs', describe: 'Root filesystem for the distro with the agent installed (WORKDIR/rootfs)' },
  { name: 'image', describe: 'Partitioned raw disk image of the rootfs (WORKDIR/osb.img); builds rootfs if needed' },
  { name: 'initrd', describe: 'Compressed cpio initrd of the rootfs (WORKDIR/osb-initrd.img); builds rootfs if needed' },
  { name: 'kernel', describe: 'Guest kernel from source and config fragments (WORKDIR/vmlinuz-VERSION)' },
  { name: 'oci', describe: 'OCI image of the rootfs: layout WORKDIR/osb-oci/ and oci-archive WORKDIR/osb-oci.tar; builds rootfs if needed' },
  { name: 'bundle', describe: 'OCI runtime bundle (config.json + rootfs/): WORKDIR/osb-bundle/ and WORKDIR/osb-bundle.tar' },
  { name: 'squashfs', describe: 'Squashfs of the rootfs for network boot (WORKDIR/osb.squashfs) and its boot initrd' },
  { name: 'publish', describe: 'Push the OCI image to a registry (--publish-registry), load it into podman (--publish-local), upload boot artefacts to S3 (--publish-s3)' },
  { name: 'boot', describe: "Boot the kernel with the image (or --initrd) under qemu and wait for the agent's ready line" },
  { name: 'all', describe: 'rootfs, image and initrd (as Kata\'s make all)' },
  { name: 'check-deps', describe: 'Host tools and capabilities each target needs (--json, --install)' },
  { name: 'config', describe: 'Every setting with its value and where it came from (--json; --reset forgets the workdir record; --schema for osb.yaml)' },
  { name: 'verify-repro', describe: 'Build each TARGET (image, initrd, oci; default image) twice in fresh workdirs (other path, umask, mtimes) and compare the sha256 of the artefacts' },
  { name: 'explain', describe: 'Say whether TARGET would rebuild, and which input changed' },
  { name: 'install-kernel', describe: 'Install the built kernel under --prefix (default /usr/share/kata-containers)' },
  { name: 'clean', describe: 'Remove what osb built in the workdir (only directories it created); --cache empties the cache too' },
  { name: 'list-distros', describe: 'Distros osb can build, with their default releases' },
  { name: 'help', describe: 'Targets, options and every environment variable with its default' },
];

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

export function defaultOf(s: Setting): string {
  if (s.defaultText) return s.defaultText;
  if (s.default === undefined) return '(unset)';
  if (Array.isArray(s.default)) return s.default.length ? s.default.join(' ') : '(none)';
  if (typeof s.default === 'boolean') return s.default ? 'yes' : 'no';
  return String(s.default);
}

function flagText(s: Setting): string {
  const value = s.type === 'boolean' ? '' : s.choices ? ` ${s.choices.join('|')}` : ` ${s.type === 'number' ? 'N' : 'VALUE'}`;
  return `${s.alias ? `-${s.alias}, ` : ''}${flagOf(s)}${value}`;
}

function envText(s: Setting): string {
  return s.env.map((e) => (e.invert ? `${e.name} (inverted)` : e.name)).join(', ');
}

/** The text of `osb help`: as Kata's `make help`, every variable with its default. */
export function renderHelp(): string {
  const lines: string[] = ['Usage: osb <command> [options]', '', 'Commands:'];
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(w)}  ${c.describe}`);
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

export const OPTIONS_BEGIN = '<!-- osb:options:begin (generated from tasks/settings.ts by `npm run readme`) -->';
export const OPTIONS_END = '<!-- osb:options:end -->';

/** README text with the options table replaced by the generated one. */
export function updateReadme(readme: string): string {
  const a = readme.indexOf(OPTIONS_BEGIN);
  const b = readme.indexOf(OPTIONS_END);
  if (a < 0 || b < a) throw new Error('README has no osb:options markers');
  return readme.slice(0, a + OPTIONS_BEGIN.length) + '\n' + renderOptionsTable() + '\n' + readme.slice(b);
}
