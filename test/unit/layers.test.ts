import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

async function lint(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [r] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (r?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

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
});
