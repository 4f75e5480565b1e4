import fs from 'node:fs';
import path from 'node:path';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, login, startTestBroker, tempDir, type TestBroker, type TestUser } from '../../kit/broker.js';
import { requestSession } from '../../kit/lifecycle.js';
import { electronBinary } from './binary.js';

/**
 * The real desktop app (npm run build:app) in the real Electron: the hardening as Electron applies
 * it, and one session from the join link to Stop. Runs wherever the Electron binary exists; here
 * (no binary can be downloaded) every test is skipped and the reason printed.
 */
const root = path.resolve(import.meta.dirname, '../..');
const binary = electronBinary();
const missing = 'missing' in binary ? binary.missing : null;
if (missing) process.stdout.write(`\nElectron app tests SKIPPED: ${missing}\n(they run wherever the Electron binary exists: npm run test:electron)\n\n`);

describe.skipIf(missing !== null)('the desktop app in Electron', () => {
  let broker: TestBroker;
  let analyst: TestUser;
  let app: ElectronApplication;
  let page: Page;
  const userData = tempDir('chaperone-electron-');

  beforeAll(async () => {
    if (!fs.existsSync(path.join(root, 'dist/app/main.cjs'))) throw new Error('run npm run build:app first (npm run test:electron does)');
    broker = await startTestBroker('sqlite');
    analyst = await createUser(broker, `an-${Date.now()}`, ['analyst']);
    await login(analyst);
    app = await _electron.launch({
      executablePath: (binary as { path: string }).path,
      args: [root, `--user-data-dir=${userData}`],
      env: { ...process.env, CHAPERONE_BROKER_URL: broker.url },
    });
    page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
  });

  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await broker?.close();
    fs.rmSync(userData, { recursive: true, force: true });
  });

  it('serves the page from its own origin with the hardened preferences and only the bridge exposed', async () => {
    expect(page.url()).toMatch(/^chaperone-app:\/\/ui\/index\.html/);
    // No Node in the page (nodeIntegration off, contextIsolation on): only the bridge object.
    expect(await page.evaluate(() => [typeof (globalThis as { require?: unknown }).require, typeof (globalThis as { process?: unknown }).process, typeof (globalThis as { chaperone?: unknown }).chaperone])).toEqual(['undefined', 'undefined', 'object']);
    expect(await page.evaluate(() => window.open('https://example.com/'))).toBeNull();
    expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1);
  });

  it('one session: the join link fills the code, consent captures the screen, the window locks, Stop ends it', async () => {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    expect(c.status).toBe(200);
    // The operating system hands a link to the running app as a second start.
    await app.evaluate(({ app: a }, code) => a.emit('second-instance', {}, [process.execPath, '--', `chaperone://join/${code}`], '/'), c.body.code as string);
    await expect.poll(() => page.getByLabel('Join code').inputValue()).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await page.getByRole('button', { name: 'Stop' }).waitFor({ timeout: 30_000 });
    const locked = await app.evaluate(({ BrowserWindow }) => {
      const w = BrowserWindow.getAllWindows()[0]!;
      return { onTop: w.isAlwaysOnTop(), closable: w.isClosable(), minimizable: w.isMinimizable() };
    });
    expect(locked).toEqual({ onTop: true, closable: false, minimizable: false });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByTestId('end-screen').waitFor();
    await expect.poll(() => app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.isClosable())).toBe(true);
  });
});
