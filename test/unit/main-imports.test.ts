import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import graph of the source layers, read from the files themselves (static imports,
 * re-exports and dynamic `import()`): no circle anywhere, and main/ keeps its rooms: the core
 * (main/ outside the two hosts) imports neither host, and neither host imports the other.
 */
const root = path.resolve(import.meta.dirname, '../..');
const SOURCE_DIRS = ['common', 'broker', 'main', 'preload', 'renderer'];

type Graph = Map<string, string[]>;

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function resolveImport(from: string, spec: string): string | null {
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx'), base, `${base}.ts`, path.join(base, 'index.ts')];
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile()) ?? null;
}

/** Repo-relative file -> the repo-relative files it imports. */
function importGraph(dirs: string[]): Graph {
  const graph: Graph = new Map();
  for (const file of dirs.flatMap((d) => sourceFiles(path.join(root, d)))) {
    const deps: string[] = [];
    for (const m of fs.readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec?.startsWith('.')) continue;
      const target = resolveImport(file, spec);
      if (target) deps.push(path.relative(root, target));
    }
    graph.set(path.relative(root, file), deps);
  }
  return graph;
}

/** Every circle found by a depth-first walk, each written as a -> b -> a. */
function findCycles(graph: Graph): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return cycles;
}

const HOSTS = ['main/electron/', 'main/browser-host/'];

/** Imports that break main/'s rooms: core -> a host, or one host -> the other. */
function roomViolations(graph: Graph): string[] {
  const room = (f: string): string | null => (f.startsWith('main/') ? (HOSTS.find((h) => f.startsWith(h)) ?? 'main/') : null);
  const out: string[] = [];
  for (const [from, deps] of graph) {
    const a = room(from);
    if (!a) continue;
    for (const to of deps) {
      const b = room(to);
      if (b && b !== a && b !== 'main/') out.push(`${from} -> ${to}`);
    }
  }
  return out;
}

describe('imports: no circles, and main/ keeps its rooms', () => {
  const graph = importGraph(SOURCE_DIRS);

  it('reads the real graph (the hosts import the core, and the dynamic import of an adapter is seen)', () => {
    expect(graph.get('main/electron/main.ts')).toContain('main/services.ts');
    expect(graph.get('main/browser-host/server.ts')).toContain('main/services.ts');
    expect(graph.get('main/injector-factory.ts')).toContain('main/injectors/xtest.ts');
    expect(graph.get('main/injectors/xtest.ts')).toContain('main/injector.ts');
  });

  it('has no import circle in any source layer', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it('the core imports neither host, and neither host imports the other', () => {
    expect(roomViolations(graph)).toEqual([]);
  });

  it('the checks find what they look for: the old injector circle, a host reaching into the other', () => {
    const old: Graph = new Map([
      ['main/injector.ts', ['main/injectors/xtest.ts']],
      ['main/injectors/xtest.ts', ['main/injector.ts']],
    ]);
    expect(findCycles(old)).toEqual(['main/injector.ts -> main/injectors/xtest.ts -> main/injector.ts']);
    const crossed: Graph = new Map([
      ['main/electron/main.ts', ['main/browser-host/services.ts', 'main/grants.ts']],
      ['main/services.ts', ['main/electron/app-origin.ts']],
      ['main/browser-host/server.ts', ['main/services.ts']],
    ]);
    expect(roomViolations(crossed)).toEqual(['main/electron/main.ts -> main/browser-host/services.ts', 'main/services.ts -> main/electron/app-origin.ts']);
  });
});
