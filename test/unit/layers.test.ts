import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

async function lint(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [r] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (r?.messages ?? []).filter((m) => m.ruleId !== null && LAYER_RULES.has(m.ruleId)).map((m) => m.message);
}

/** The layer allow lists (chaperone/layers) and any deny list inside one folder (no-restricted-imports). */
const LAYER_RULES = new Set(['chaperone/layers', 'no-restricted-imports']);

const probe = (from: string) => `import x from '${from}';\nexport const a = x;\n`;

describe('imports flow down only (the lint rule CI runs)', () => {
  it('common/ may not import node:*, a layer above, or electron', async () => {
    expect(await lint('common/probe.ts', "import fs from 'node:fs';\nexport const a = fs;\n")).toHaveLength(1);
    expect((await lint('common/probe.ts', "import { startBroker } from '../broker/broker.js';\nexport const a = startBroker;\n")).length).toBeGreaterThan(0);
    expect(await lint('common/probe.ts', "import { app } from 'electron';\nexport const a = app;\n")).toHaveLength(1);
    expect(await lint('common/probe.ts', "import { z } from 'zod';\nexport const a = z;\n")).toHaveLength(0);
  });

  it('broker/ may not import the app layers; the renderer may not import main or broker', async () => {
    expect((await lint('broker/probe.ts', "import x from '../main/grants.js';\nexport const a = x;\n")).length).toBeGreaterThan(0);
    expect((await lint('renderer/probe.ts', "import x from '../main/grants.js';\nexport const a = x;\n")).length).toBeGreaterThan(0);
    expect((await lint('renderer/probe.ts', "import { ipcRenderer } from 'electron';\nexport const a = ipcRenderer;\n")).length).toBeGreaterThan(0);
    expect(await lint('broker/probe.ts', "import { checkTransition } from '../common/session-state.js';\nexport const a = checkTransition;\n")).toHaveLength(0);
  });

  it('electron is imported in main/ only by the composition root, main/electron/', async () => {
    const code = "import { app } from 'electron';\nexport const a = app;\n";
    expect(await lint('main/probe.ts', code)).toHaveLength(1);
    expect(await lint('main/browser-host/probe.ts', code)).toHaveLength(1);
    expect(await lint('main/probe.ts', "import type { BrowserWindow } from 'electron';\nexport type W = BrowserWindow;\n")).toHaveLength(1);
    expect(await lint('main/electron/probe.ts', code)).toHaveLength(0);
    expect(await lint('main/electron/probe.ts', "import { grantsFor } from '../grants.js';\nexport const a = grantsFor;\n")).toHaveLength(0);
    // The root still may not reach up into the other layers.
    expect((await lint('main/electron/probe.ts', "import x from '../../renderer/app/app.js';\nexport const a = x;\n")).length).toBeGreaterThan(0);
    expect((await lint('main/electron/probe.ts', "import x from '../../broker/broker.js';\nexport const a = x;\n")).length).toBeGreaterThan(0);
  });

  it('kit/ may import the product, but not test/ or bench/; test/ and bench/ do not import each other', async () => {
    for (const product of ['../common/roles.js', '../broker/broker.js', '../main/grants.js', '../renderer/session/engine.js', '../preload/api.js']) {
      expect(await lint('kit/probe.ts', probe(product))).toHaveLength(0);
    }
    expect(await lint('kit/probe.ts', probe('../test/helpers/clock.js'))).toHaveLength(1);
    expect(await lint('kit/probe.ts', probe('../bench/lib/stats.js'))).toHaveLength(1);
    expect(await lint('bench/probe.ts', probe('../kit/broker.js'))).toHaveLength(0);
    expect(await lint('bench/probe.ts', probe('../test/helpers/clock.js'))).toHaveLength(1);
    expect(await lint('test/unit/probe.ts', probe('../../kit/broker.js'))).toHaveLength(0);
    expect(await lint('test/unit/probe.ts', probe('../../bench/lib/stats.js'))).toHaveLength(1);
  });

  it('no product layer may import kit/, tests or benchmarks', async () => {
    for (const layer of ['common', 'broker', 'main', 'main/electron', 'preload', 'renderer']) {
      const up = '../'.repeat(layer.split('/').length);
      for (const folder of ['kit/broker.js', 'test/helpers/clock.js', 'bench/lib/stats.js']) {
        expect(await lint(`${layer}/probe.ts`, probe(`${up}${folder}`)), `${layer} -> ${folder}`).toHaveLength(1);
      }
    }
  });

  it('dynamic imports and re-exports are checked as well as import declarations', async () => {
    expect(await lint('renderer/probe.ts', "export const a = () => import('../main/grants.js');\n")).toHaveLength(1);
    expect(await lint('renderer/probe.ts', "export { GrantRegistry } from '../main/grants.js';\n")).toHaveLength(1);
    expect(await lint('common/probe.ts', "export * from '../broker/broker.js';\n")).toHaveLength(1);
  });

  it('a folder that declares no layer fails lint, whatever it imports', async () => {
    expect(await lint('newfolder/probe.ts', 'export const a = 1;\n')).toHaveLength(1);
    expect(await lint('newfolder/probe.ts', probe('../main/grants.js'))).toHaveLength(1);
  });

  it('every top-level folder with source files has a declared layer', async () => {
    const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n');
    const folders = new Set(tracked.filter((f) => /\.(ts|tsx|js|mjs|cjs)$/.test(f) && f.includes('/')).map((f) => f.split('/')[0]!));
    expect(folders.size).toBeGreaterThan(5);
    for (const folder of folders) {
      const messages = await lint(`${folder}/probe.ts`, 'export const a = 1;\n');
      expect(messages, folder).toEqual([]);
    }
  });
});
