/**
 * apk's version ordering, ported from apk-tools (src/version.c, "Alpine version:
 * digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}"). It is not semver: `1.0 > 1`, a dot part
 * with a leading zero compares as text (`1.01 < 1.1`, Gentoo's rule), `1.2_rc1 < 1.2 < 1.2_p1`,
 * `1.2a > 1.2`, and `-rN` is compared last.
 */
import { byCodePoint } from '../../../lib/order.js';

/** Token kinds in apk's order: a version's tokens may only move forward through it. */
const enum Token {
  InitialDigit,
  Digit,
  Letter,
  Suffix,
  SuffixNo,
  CommitHash,
  RevisionNo,
  End,
  Invalid,
}

/** Suffix ranks: pre-release ones below NONE (the plain version), post-release ones above. */
const SUFFIXES: Readonly<Record<string, number>> = { alpha: 1, beta: 2, pre: 3, rc: 4, cvs: 6, svn: 7, git: 8, hg: 9, p: 10 };
const SUFFIX_NONE = 5;

interface TokenState {
  token: Token;
  suffix: number;
  number: bigint;
  /** The token's text (digits, letter, suffix name or hash). */
  value: string;
}

interface Cursor {
  readonly s: string;
  i: number;
}

function parseDigits(t: TokenState, c: Cursor): void {
  const m = /^[0-9]*/.exec(c.s.slice(c.i))![0];
  c.i += m.length;
  t.value = m;
  t.number = m ? BigInt(m) : 0n;
  if (!m) t.token = Token.Invalid;
}

function first(c: Cursor): TokenState {
  const t: TokenState = { token: Token.InitialDigit, suffix: 0, number: 0n, value: '' };
  parseDigits(t, c);
  return t;
}

/** apk's token_next(): read the next token, checking that it may follow the previous one. */
function next(t: TokenState, c: Cursor): void {
  const ch = c.s[c.i];
  if (ch === undefined) {
    t.token = Token.End;
    return;
  }
  const invalid = () => void (t.token = Token.Invalid);
  if (ch >= 'a' && ch <= 'z') {
    if (t.token > Token.Digit) return invalid();
    t.value = ch;
    t.token = Token.Letter;
    c.i++;
  } else if (ch === '.' || (ch >= '0' && ch <= '9')) {
    if (ch === '.') {
      if (t.token > Token.Digit) return invalid();
      c.i++;
    }
    if (t.token === Token.InitialDigit || t.token === Token.Digit) t.token = Token.Digit;
    else if (t.token === Token.Suffix) t.token = Token.SuffixNo;
    else return invalid();
    parseDigits(t, c);
  } else if (ch === '_') {
    if (t.token > Token.SuffixNo) return invalid();
    c.i++;
    const m = /^[a-z]*/.exec(c.s.slice(c.i))![0];
    c.i += m.length;
    t.value = m;
    t.suffix = SUFFIXES[m] ?? 0;
    if (!t.suffix) return invalid();
    t.token = Token.Suffix;
  } else if (ch === '~') {
    if (t.token >= Token.CommitHash) return invalid();
    c.i++;
    const m = /^[0-9a-fA-F]*/.exec(c.s.slice(c.i))![0];
    c.i += m.length;
    if (!m) return invalid();
    t.value = m;
    t.token = Token.CommitHash;
  } else if (ch === '-') {
    if (t.token >= Token.RevisionNo || c.s[c.i + 1] !== 'r') return invalid();
    c.i += 2;
    t.token = Token.RevisionNo;
    parseDigits(t, c);
  } else invalid();
}

/** Two tokens of the same kind; text compares as apk_blob_sort does: bytewise, the shorter first on a common prefix (byCodePoint). */
function tokenCompare(a: TokenState, b: TokenState): -1 | 0 | 1 {
  // A dot part with a leading zero on either side compares as text, as Gentoo's rules say.
  if (a.token === Token.Digit && (a.value[0] === '0' || b.value[0] === '0')) return byCodePoint(a.value, b.value);
  switch (a.token) {
    case Token.Digit:
    case Token.InitialDigit:
    case Token.SuffixNo:
    case Token.RevisionNo:
      return a.number < b.number ? -1 : a.number > b.number ? 1 : 0;
    case Token.Letter:
      return byCodePoint(a.value, b.value);
    case Token.Suffix:
      return a.suffix < b.suffix ? -1 : a.suffix > b.suffix ? 1 : 0;
    default:
      return byCodePoint(a.value, b.value);
  }
}

/** Whether apk accepts `v` as a version (apk_version_validate). */
export function isValidVersion(v: string): boolean {
  const c: Cursor = { s: v, i: 0 };
  const t = first(c);
  while (t.token < Token.End) next(t, c);
  return t.token === Token.End;
}

/**
 * -1, 0 or 1 as `a` sorts before, equal to or after `b`. With `fuzzy`, `a` equals `b` when `b` is
 * a prefix of it in tokens (`~1.2` matches 1.2.5), as apk's `~` operator does.
 */
export function compareVersions(a: string, b: string, fuzzy = false): -1 | 0 | 1 {
  const ca: Cursor = { s: a, i: 0 };
  const cb: Cursor = { s: b, i: 0 };
  const ta = first(ca);
  const tb = first(cb);
  for (; ta.token === tb.token && ta.token < Token.End; next(ta, ca), next(tb, cb)) {
    const r = tokenCompare(ta, tb);
    if (r !== 0) return r;
  }
  if (ta.token === tb.token) return 0;
  if (tb.token === Token.End && fuzzy) return 0;
  // Equal so far: the longer version is newer, unless what follows is a pre-release suffix.
  if (ta.token === Token.Suffix && ta.suffix < SUFFIX_NONE) return -1;
  if (tb.token === Token.Suffix && tb.suffix < SUFFIX_NONE) return 1;
  if (ta.token > tb.token) return -1;
  if (tb.token > ta.token) return 1;
  return 0;
}

/** A version constraint as written in a dependency: `musl>=1.2`, `busybox~1.36`, `foo><Q1...`. */
export type VersionOp = '<' | '<=' | '=' | '>=' | '>' | '~' | '><';

export interface Constraint {
  readonly op: VersionOp;
  readonly version: string;
}

/** Whether `version` satisfies `c` (apk_version_match; `><` is matched against checksums elsewhere). */
export function versionSatisfies(version: string, c: Constraint): boolean {
  const r = compareVersions(version, c.version, c.op === '~');
  switch (c.op) {
    case '<':
      return r < 0;
    case '<=':
      return r <= 0;
    case '=':
    case '~':
      return r === 0;
    case '>=':
      return r >= 0;
    case '>':
      return r > 0;
    case '><':
      return false;
  }
}
