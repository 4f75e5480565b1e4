/**
 * A headed Chromium that Playwright can let go of and take hold of again while its pages keep
 * running. Playwright's DevTools session enables the Network domain, which ships every WebSocket
 * frame of a page to Playwright with its payload (base64): in the browser test host the bridge to
 * main is a WebSocket, so during a file transfer every byte would also cross the browser process
 * and this process as DevTools traffic. Electron's IPC has no such copy, so a figure of the app's
 * memory is taken with Playwright detached (bench/README.md, transfer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { APP_WINDOW, CHROMIUM_ARGS } from '../../kit/e2e-stack.js';
import { CHROMIUM_PATH } from '../../kit/xvfb.js';

export interface DetachableBrowser {
  readonly pid: number;
  /** The one page, driven by Playwright while attached. */
  page(): Page;
  /** Playwright lets go: the page runs on without any DevTools session. */
  detach(): Promise<void>;
  /** Playwright takes hold again of the same page, in the state it is in. */
  attach(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchDetachable(display: string, url: string): Promise<DetachableBrowser> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-bench-eu-'));
  const child: ChildProcess = spawn(
    CHROMIUM_PATH,
    [...CHROMIUM_ARGS, '--auto-select-desktop-capture-source=Entire screen', `--window-position=${APP_WINDOW.x},${APP_WINDOW.y}`, `--window-size=${APP_WINDOW.width},${APP_WINDOW.height}`, `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank'],
    { env: { ...process.env, DISPLAY: display }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = await new Promise<string>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`Chromium gave no DevTools address: ${err.slice(-500)}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    child.once('exit', () => reject(new Error(`Chromium ended: ${err.slice(-500)}`)));
  });
  let browser: Browser | null = null;
  let page: Page | null = null;
  const attach = async (): Promise<Page> => {
    browser = await chromium.connectOverCDP(endpoint);
    const ctx = browser.contexts()[0]!;
    page = ctx.pages().find((p) => p.url() !== 'about:blank') ?? ctx.pages()[0] ?? (await ctx.newPage());
    return page;
  };
  await attach();
  await page!.goto(url);
  return {
    pid: child.pid!,
    page: () => {
      if (!page) throw new Error('Playwright is detached from this browser');
      return page;
    },
    detach: async () => {
      // Closing a browser reached over CDP only disconnects; its own pages stay open.
      await browser?.close();
      browser = null;
      page = null;
    },
    attach,
    close: async () => {
      await browser?.close().catch(() => undefined);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      process.removeListener('exit', killOnExit);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
