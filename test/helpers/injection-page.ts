/**
 * A real, headed Chromium on a private Xvfb showing a page that records what it receives (trusted
 * events, typed text, clicks, scrolling), and an X client that asks the server what is down:
 * the evidence for the injector tests. Nothing here is simulated.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import x11 from 'x11';
import { CHROMIUM_PATH, mouseLocation, startXvfb, xdotool, type Xvfb } from '../../kit/xvfb.js';

export const W = 1280;
export const H = 720;

const PAGE = `<!doctype html><html><body style="margin:0;background:#fff;height:4000px">
<button id="b" style="position:absolute;left:100px;top:100px;width:200px;height:80px">Press</button>
<input id="i" style="position:absolute;left:100px;top:300px;width:400px;height:40px">
<script>
  window.log = [];
  window.clicks = [];
  window.lastMove = null;
  window.down = new Set();
  window.chordSeen = false;
  document.getElementById('b').addEventListener('click', (e) => clicks.push({ trusted: e.isTrusted }));
  addEventListener('mousemove', (e) => { lastMove = { x: e.screenX, y: e.screenY, cx: e.clientX, cy: e.clientY, trusted: e.isTrusted }; }, true);
  for (const t of ['mousedown', 'mouseup', 'keydown', 'keyup']) {
    addEventListener(t, (e) => {
      log.push({ t, key: e.key, code: e.code, button: e.button, trusted: e.isTrusted, ctrl: e.ctrlKey });
      if (t === 'keydown') down.add(e.key);
      if (t === 'keyup') down.delete(e.key);
      if (['Control', 'Alt', 'Shift', 'End'].every((k) => down.has(k))) chordSeen = true;
    }, true);
  }
</script></body></html>`;

export type PageLog = { t: string; key?: string; code?: string; button?: number; trusted: boolean; ctrl?: boolean };
export interface PageState {
  log: PageLog[];
  clicks: { trusted: boolean }[];
  lastMove: { x: number; y: number; cx: number; cy: number; trusted: boolean } | null;
  chordSeen: boolean;
  value: string;
  scrollY: number;
}

export interface InjectionDesk {
  xvfb: Xvfb;
  browser: Browser;
  page: Page;
  /** Where the page's client area starts on the X screen (below Chromium's toolbar). */
  origin: { x: number; y: number };
  state(): Promise<PageState>;
  /** Normalised screen coordinates of a point in the page. */
  at(clientX: number, clientY: number): { x: number; y: number };
  /** Keycodes the X server has down. */
  keysDown(): Promise<number[]>;
  pointer(): Promise<x11.XPointer>;
  /**
   * Everything injected before this reached the page: a move by another X client (xdotool, like
   * the end user's own mouse) is queued behind it, and the page must see that move.
   */
  barrier(): Promise<void>;
  close(): Promise<void>;
}

export async function openInjectionDesk(): Promise<InjectionDesk> {
  const xvfb = await startXvfb({ width: W, height: H });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: false,
    env: { ...process.env, DISPLAY: xvfb.display },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--window-position=0,0',
      `--window-size=${W},${H}`,
    ],
  });
  const page = await (await browser.newContext({ viewport: null })).newPage();
  await page.setContent(PAGE);
  let root = 0;
  const observer = await new Promise<x11.XClient>((resolve, reject) => {
    const c = x11.createClient({ display: xvfb.display, shm: false }, (err, d) => {
      if (err) return reject(err);
      root = d.screen[0]!.root;
      resolve(c);
    });
  });
  const state = () =>
    page.evaluate(() => {
      const w = window as unknown as Omit<PageState, 'value' | 'scrollY'>;
      return { log: w.log, clicks: w.clicks, lastMove: w.lastMove, chordSeen: w.chordSeen, value: (document.getElementById('i') as HTMLInputElement).value, scrollY: window.scrollY };
    });
  // Calibrate: the page's client area sits below the browser's toolbar.
  await xdotool(xvfb.display, ['mousemove', '640', '400']);
  let origin: { x: number; y: number } | undefined;
  const deadline = Date.now() + 10_000;
  while (!origin) {
    const m = (await state()).lastMove;
    if (m?.x === 640 && m.y === 400) origin = { x: m.x - m.cx, y: m.y - m.cy };
    else if (Date.now() > deadline) throw new Error(`the page never saw the calibration move (last: ${JSON.stringify(m)})`);
    else await new Promise((r) => setTimeout(r, 50));
  }
  const o = origin;
  const query = <T>(fn: (cb: (err: Error | null, v: T) => void) => void) => new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
  return {
    xvfb,
    browser,
    page,
    origin: o,
    state,
    at: (cx, cy) => ({ x: (o.x + cx) / W, y: (o.y + cy) / H }),
    keysDown: async () => {
      const bits = await query<Buffer>((cb) => observer.QueryKeymap(cb));
      const codes: number[] = [];
      for (let kc = 0; kc < 256; kc++) if (((bits[kc >> 3] ?? 0) >> (kc & 7)) & 1) codes.push(kc);
      return codes;
    },
    pointer: () => query<x11.XPointer>((cb) => observer.QueryPointer(root, cb)),
    barrier: async () => {
      const now = await mouseLocation(xvfb.display);
      const spot = { x: now.x === 700 ? 710 : 700, y: 600 };
      await xdotool(xvfb.display, ['mousemove', String(spot.x), String(spot.y)]);
      await expect.poll(async () => (await state()).lastMove, { timeout: 5000 }).toMatchObject(spot);
    },
    close: async () => {
      observer.terminate();
      await browser.close();
      await xvfb.stop();
    },
  };
}
