/**
 * `osb config`: every setting with its value and where the value came from (flag, env NAME,
 * osb.yaml:LINE, workdir, default); `--json` for tools, `--reset` to forget the workdir's record,
 * `--schema` for the JSON Schema of osb.yaml.
 */
import type { CommandRun } from '../cli/command.js';
import { recordPath, resetRecord } from '../cli/record.js';
import { LIST_KEYS, SETTINGS, defaultOf, flagOf, settingByKey, showValue, yamlKeyOfList } from '../settings/table.js';

export const run: CommandRun = async (cmd) => {
  const { workdir } = cmd.settings;
  if (cmd.flags.schema) {
    const { projectSchema } = await import('../cli/project-file.js');
    process.stdout.write(JSON.stringify(projectSchema(), null, 2) + '\n');
    return 0;
  }
  if (cmd.flags.reset) {
    const { openWorkdir } = await import('./workdir.js');
    const { existsSync } = await import('node:fs');
    const lock = existsSync(recordPath(workdir)) ? await openWorkdir(cmd, undefined, false) : undefined;
    const had = await resetRecord(workdir);
    await lock?.release();
    process.stdout.write(had ? `forgot the settings recorded in ${workdir}; it starts from the defaults again\n` : `${workdir} has no recorded settings\n`);
    return 0;
  }
  const rows = [...SETTINGS.map((x) => ({ key: x.key, flag: flagOf(x), unset: defaultOf(x) })), ...LIST_KEYS.map((key) => ({ key, flag: `${yamlKeyOfList(key)} (project file)`, unset: '(none)' }))];
  // Passwords and secret keys: whether they are set, never the value.
  const s: Readonly<Record<string, unknown>> = Object.fromEntries(Object.entries(cmd.settings).map(([k, v]) => [k, settingByKey.get(k)?.secret && v !== undefined ? '(set, hidden)' : v]));
  if (cmd.flags.json) {
    const settings = Object.fromEntries(rows.map((r) => [r.key, { value: s[r.key] ?? null, source: cmd.sources[r.key]?.text ?? 'default' }]));
    process.stdout.write(JSON.stringify({ workdir, project: cmd.project ?? null, settings }, null, 2) + '\n');
    return 0;
  }
  // --no-deps and --no-wait read as what the flag says: "yes" when given.
  const shown = (r: (typeof rows)[number]) => (r.flag.startsWith('--no-') && typeof s[r.key] === 'boolean' ? showValue(!s[r.key]) : showValue(s[r.key]));
  const lines = rows.map((r) => [r.flag, shown(r) || r.unset, cmd.sources[r.key]?.text ?? 'default']);
  const w0 = Math.max(...lines.map((l) => l[0]!.length));
  const w1 = Math.min(48, Math.max(...lines.map((l) => l[1]!.length)));
  process.stdout.write(`# workdir ${workdir}${cmd.project ? `, project file ${cmd.project}` : ''}; precedence: flag > OSB_* env > Kata env > osb.yaml > workdir > default\n`);
  for (const [flag, value, source] of lines) process.stdout.write(`${flag!.padEnd(w0)}  ${value!.padEnd(w1)}  ${source}\n`);
  return 0;
};
