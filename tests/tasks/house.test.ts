/**
 * The shape of the source tree (docs/DESIGN.md): no file imports itself round a circle, and the
 * targets read their settings as typed values, with no casts.
 */
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../helpers/fixture-rootfs.js';

/** Every folder of source (tests and fixtures are not part of the house). */
const SOURCE = ['tasks', 'lib', 'rootfs-builder', 'image-builder', 'initrd-builder', 'kernel-builder', 'oci-builder', 'publish', 'openscap', 'ansible-layer', 'sysext-builder', 'supply-chain', 'signing', 'uki-builder', 'distros', 'scripts', 'bench'];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/**
 * The import graph: an arrow for each relative import, static or dynamic (`import()`), value or
 * type-only, read by TypeScript's own scanner (so an import inside a template string is not one).
 */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
    const to = info.importedFiles.map((i) => i.fileName).filter((n) => n.startsWith('.')).map((n) => resolve(dirname(f), n.replace(/\.js$/, '.ts')));
    graph.set(f, [...new Set(to)].filter((t) => files.includes(t)));
  }
  return graph;
}

/** Each circle of files (Tarjan's strongly connected components of more than one file, or a file importing itself). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)!.includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('the import graph', () => {
  const files = SOURCE.flatMap((d) => tsFiles(join(REPO_ROOT, d)));
  const graph = importGraph(files);

  test('is read: the entry point reaches the parser, the command table and, through it, every command and target', () => {
    const reach = new Set<string>();
    const walk = (f: string) => {
      if (reach.has(f)) return;
      reach.add(f);
      for (const t of graph.get(f) ?? []) walk(t);
    };
    walk(join(REPO_ROOT, 'tasks/main.ts'));
    const unreached = ['tasks/cli/parse.ts', 'tasks/commands/index.ts', 'tasks/commands/build.ts', 'tasks/commands/check-deps.ts', 'tasks/targets/rootfs.ts', 'tasks/targets/boot.ts', 'image-builder/index.ts', 'rootfs-builder/engines/rpm/dnf.ts']
      .filter((f) => !reach.has(join(REPO_ROOT, f)));
    expect(unreached).toEqual([]);
  });

  test('has no circle between files', () => {
    const found = circles(graph).map((c) => c.map((f) => relative(REPO_ROOT, f)).join(' <-> '));
    expect(found).toEqual([]);
  });

  test('a circle is found when there is one (two files that import each other, one of them lazily)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'osb-graph-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.js';\nexport type A = B;\n");
      writeFileSync(join(dir, 'b.ts'), "export type B = string;\nexport const load = () => import('./a.js');\n");
      writeFileSync(join(dir, 'c.ts'), "import './a.js';\n");
      const found = circles(importGraph(tsFiles(dir))).map((c) => c.map((f) => relative(dir, f)));
      expect(found).toEqual([['a.ts', 'b.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the targets read typed settings', () => {
  /** `String(s.distro)`, `Number(s.blockSize)`, `s.fsType as 'ext4'`: a setting cast by hand. */
  const CAST = /\b(String|Number|Boolean)\(s\.|\bs\.[A-Za-z0-9]+!? as\b/;

  test('the pattern finds the casts the table once needed', () => {
    for (const line of ["distro: String(s.distro),", "fsType: s.fsType as 'ext4',", 'blockSize: Number(s.blockSize),', "x: s.kernel! as string"]) expect([line, CAST.test(line)]).toEqual([line, true]);
    expect(CAST.test('fsType: s.fsType,')).toBe(false);
  });

  test('no file in tasks/targets/ casts a setting', () => {
    const casts = tsFiles(join(REPO_ROOT, 'tasks/targets')).flatMap((f) =>
      readFileSync(f, 'utf8').split('\n').flatMap((l, i) => (CAST.test(l) ? [`${relative(REPO_ROOT, f)}:${i + 1}: ${l.trim()}`] : [])),
    );
    expect(casts).toEqual([]);
  });
});
