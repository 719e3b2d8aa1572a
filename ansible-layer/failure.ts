/**
 * Which task failed, read from ansible-playbook's output (the default callback, no colour):
 *
 *   TASK [compute_node : Break on purpose] *****
 *   fatal: [osb-image]: FAILED! => {"changed": true, "msg": "non-zero return code", "rc": 1, ...}
 *
 * The result is one line of JSON, or (at -vvv and above) JSON over many lines ending with a `}`
 * of its own. A loop's failed item is `failed: [osb-image] (item=3) => {...}`, with no fatal line
 * after it. A failure followed by `...ignoring` is not the one; the last one that is, is. An
 * error before any task (a missing role, a YAML error) is `ERROR! ...`.
 */
const TASK = /^(?:TASK|RUNNING HANDLER) \[(.*)\] \*+\s*$/;
const FATAL = /^fatal: \[([^\]]*)\]: (FAILED|UNREACHABLE)! => ?(.*)$/;
const ITEM = /^failed: \[([^\]]*)\] \((item=.*)\) => ?(.*)$/;
const ERROR = /^ERROR! (.*)$/;
const MAX_JSON_LINES = 5000;
const MAX_REASON = 300;

export interface PlaybookFailure {
  /** The task's name as Ansible prints it ("role : task"), if one was running. */
  readonly task?: string;
  readonly kind: 'failed' | 'unreachable' | 'error';
  /** Why, in one line. */
  readonly reason: string;
}

interface Pending {
  /** Which TASK header this failure came under (the count of headers seen). */
  seq: number;
  task: string | undefined;
  kind: 'failed' | 'unreachable';
  /** `item=...` for a failed item of a loop (a loop that fails prints no fatal line). */
  item?: string;
  json: string[];
}

export class FailureReader {
  private task: string | undefined;
  private seq = 0;
  private open: Pending | undefined;
  private last: Pending | undefined;
  private error: string | undefined;

  line(raw: string): void {
    const line = raw.replace(/\r$/, '');
    if (this.open) {
      if (TASK.test(line) || /^PLAY /.test(line) || this.open.json.length >= MAX_JSON_LINES) this.close();
      else {
        this.open.json.push(line);
        if (line === '}') this.close();
        return;
      }
    }
    let m: RegExpExecArray | null;
    if ((m = TASK.exec(line))) {
      this.task = m[1];
      this.seq++;
    } else if ((m = FATAL.exec(line))) {
      this.start({ seq: this.seq, task: this.task, kind: m[2] === 'UNREACHABLE' ? 'unreachable' : 'failed', json: [m[3] ?? ''] });
    } else if ((m = ITEM.exec(line))) {
      this.start({ seq: this.seq, task: this.task, kind: 'failed', item: m[2], json: [m[3] ?? ''] });
    } else if (line.trim() === '...ignoring') {
      if (this.last?.seq === this.seq) this.last = undefined;
    } else if ((m = ERROR.exec(line)) && this.error === undefined) {
      this.error = m[1]!.trim();
    }
  }

  private start(p: Pending): void {
    this.open = p;
    const first = p.json[0]!.trim();
    if (!first.startsWith('{') || parseJson(first) !== undefined) this.close();
  }

  private close(): void {
    const p = this.open;
    if (!p) return;
    this.open = undefined;
    // The first failed item of a loop says why; a task's own fatal line says it better.
    if (this.last?.seq === p.seq && (p.item !== undefined || this.last.item === undefined)) return;
    this.last = p;
  }

  /** The failure to report, if the output showed one. */
  result(): PlaybookFailure | undefined {
    this.close();
    if (this.last) {
      const json = this.last.json.join('\n');
      const reason = reasonOf(parseJson(json)) ?? (json.replace(/\s+/g, ' ').trim() || 'no reason given');
      return { task: this.last.task, kind: this.last.kind, reason: oneLine(this.last.item ? `${this.last.item}: ${reason}` : reason) };
    }
    if (this.error !== undefined) return { task: undefined, kind: 'error', reason: oneLine(this.error) };
    return undefined;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const lastLine = (v: unknown): string | undefined => (typeof v === 'string' ? v.split('\n').map((l) => l.trim()).filter(Boolean).pop() : undefined);

/** A module result's reason: its msg, with what says more (a command's rc and stderr, a module's traceback's last line). */
function reasonOf(r: Record<string, unknown> | undefined): string | undefined {
  if (!r) return undefined;
  const msg = typeof r.msg === 'string' ? r.msg.split('\n')[0]!.trim() : undefined;
  const more: string[] = [];
  if (typeof r.rc === 'number') more.push(`rc ${r.rc}`);
  const err = lastLine(r.stderr) ?? lastLine(r.module_stderr) ?? (msg?.startsWith('MODULE FAILURE') ? lastLine(r.module_stdout) : undefined);
  if (err) more.push(err);
  if (!msg && more.length === 0) return undefined;
  return [msg, more.length ? `(${more.join(': ')})` : undefined].filter(Boolean).join(' ');
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_REASON ? `${flat.slice(0, MAX_REASON - 1)}…` : flat;
}
