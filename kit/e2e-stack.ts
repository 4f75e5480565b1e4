/**
 * What the end-to-end tests and the app benchmark run on, all real: a broker on loopback (SQLite), the app's renderer
 * built by vite and served by the browser host (main/browser-host) with the real main-process
 * services, Debian's Chromium driven by playwright-core, an Xvfb display that the end user's
 * Chromium captures (getDisplayMedia, Entire screen) and that the XTEST injector types into.
 *
 * Screen layout on the 1280x720 display: a target window (a button and a text field) at the top
 * left, the end user's app window on the right; the bottom-left quarter shows the root window,
 * whose colour `xsetroot -solid` changes. With `monitors: 2` the X screen is 2560x720, split into
 * two 1280x720 monitors (LEFT, RIGHT); the layout above is the left one's.
 *
 * The tests' page checks (screenshots, viewer pixels, axe, 200% zoom) are in test/e2e/page-checks.ts.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createXTestInjector } from '../main/injectors/xtest.js';
import { XclipClipboard } from '../main/clipboard/xclip.js';
import { X11Displays } from '../main/displays-x11.js';
import { startBrowserHost, type BrowserHost } from '../main/browser-host/server.js';
import { ANALYST_CAPABILITY_TEXT } from '../renderer/app/wording.js';
import { ApiClient } from './api.js';
import { DeviceKey } from './device.js';
import { freshTotp, startTestBroker, type TestBroker, type TestUser } from './broker.js';
import { CHROMIUM_PATH, missingDisplayTools, startXvfb, xdotool, type Xvfb } from './xvfb.js';
import type { Clock } from '../main/clock.js';
import type { Injector } from '../main/injector.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const RENDERER_DIR = path.join(ROOT, 'dist/renderer');
export const W = 1280;
export const H = 720;
/** Where the windows sit on the X display. */
export const TARGET_WINDOW = { x: 0, y: 0, width: 560, height: 400 };
export const APP_WINDOW = { x: 600, y: 0, width: 680, height: 720 };
/** A point of the display that only the root window covers. */
export const ROOT_POINT = { x: 150, y: 560 };
/** Where the X pointer rests when nobody moves it (root window, away from ROOT_POINT: the cursor is captured too). */
export const PARK_POINT = { x: 580, y: 700 };

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-features=Translate,MediaRouter', '--password-store=basic'];

export function missingTools(): string[] {
  const m = missingDisplayTools({ chromium: true });
  if (!fs.existsSync(path.join(RENDERER_DIR, 'index.html'))) m.push('the built renderer (npm run build:renderer)');
  if (!onPath('xsetroot')) m.push('xsetroot (apt-get install x11-xserver-utils)');
  return m;
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => fs.existsSync(path.join(d, bin)));
}

export function xsetroot(display: string, colour: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('xsetroot', ['-solid', colour], { env: { ...process.env, DISPLAY: display }, timeout: 5000 }, (err) => (err ? reject(err) : resolve()));
  });
}

const TARGET_PAGE = `<!doctype html><html><head><title>Target</title></head><body style="margin:0;background:#fff;font:16px sans-serif">
<button id="b" style="position:absolute;left:60px;top:40px;width:200px;height:80px;font-size:20px">Press me</button>
<input id="i" aria-label="typed text" style="position:absolute;left:60px;top:160px;width:400px;height:40px;font-size:20px">
<script>
  window.clicks = 0; window.lastMove = null;
  document.getElementById('b').addEventListener('click', (e) => { if (e.isTrusted) clicks++; });
  addEventListener('mousemove', (e) => { lastMove = { x: e.screenX, y: e.screenY, cx: e.clientX, cy: e.clientY }; }, true);
</script></body></html>`;

/** A real Chromium window on the X display, with a button and a text field that remote input must reach. */
export class TargetWindow {
  private constructor(
    readonly browser: Browser,
    readonly page: Page,
    /** Screen position of the page's (0,0). */
    readonly origin: { x: number; y: number },
  ) {}

  /** `at`: where the window goes (another monitor's target sits right of the first); `background`: a colour to tell it by. */
  static async open(display: string, o: { at?: { x: number; y: number }; background?: string } = {}): Promise<TargetWindow> {
    const at = o.at ?? { x: TARGET_WINDOW.x, y: TARGET_WINDOW.y };
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: false,
      env: { ...process.env, DISPLAY: display },
      args: [...CHROMIUM_ARGS, `--window-position=${at.x},${at.y}`, `--window-size=${TARGET_WINDOW.width},${TARGET_WINDOW.height}`],
    });
    const page = await (await browser.newContext({ viewport: null })).newPage();
    await page.setContent(o.background ? TARGET_PAGE.replace('background:#fff', `background:${o.background}`) : TARGET_PAGE);
    // Calibrate: where the page's (0,0) is on the screen, from a real pointer move. On a loaded
    // machine the window can map after the first move, which it then never sees: move again
    // every second (to another point: a move to where the pointer is sends no event).
    let m: { x: number; y: number; cx: number; cy: number } | null = null;
    for (let i = 0; i < 200 && !m; i++) {
      if (i % 20 === 0) await xdotool(display, ['mousemove', String(at.x + 150 + ((i / 20) % 2) * 10), String(at.y + 200)]);
      m = await page.evaluate(() => (window as unknown as { lastMove: { x: number; y: number; cx: number; cy: number } | null }).lastMove);
      if (!m) await new Promise((r) => setTimeout(r, 50));
    }
    if (!m) throw new Error('the target window never saw the calibration move');
    await xdotool(display, ['mousemove', String(PARK_POINT.x), String(PARK_POINT.y)]);
    return new TargetWindow(browser, page, { x: m.x - m.cx, y: m.y - m.cy });
  }

  async state(): Promise<{ clicks: number; value: string }> {
    return this.page.evaluate(() => ({ clicks: (window as unknown as { clicks: number }).clicks, value: (document.getElementById('i') as HTMLInputElement).value }));
  }

  async reset(): Promise<void> {
    await this.page.evaluate(() => {
      (window as unknown as { clicks: number }).clicks = 0;
      (document.getElementById('i') as HTMLInputElement).value = '';
      // Nothing keeps the focus an earlier test gave: typing needs a click that landed.
      (document.activeElement as HTMLElement | null)?.blur();
    });
  }

  /** The screen position (normalised) of an element's centre. */
  async centreOf(selector: string): Promise<{ x: number; y: number }> {
    const r = await this.page.locator(selector).boundingBox();
    if (!r) throw new Error(`no ${selector} in the target window`);
    return { x: (this.origin.x + r.x + r.width / 2) / W, y: (this.origin.y + r.y + r.height / 2) / H };
  }
}

export interface Person {
  user: TestUser;
  /** The display name the broker shows. */
  name: string;
}

/** One test's world: the broker, the three apps' hosts, the browsers. Tear down with close(). */
export class Stack {
  readonly hosts: BrowserHost[] = [];
  readonly browsers: Browser[] = [];

  private constructor(
    readonly dir: string,
    readonly xvfb: Xvfb,
    readonly broker: TestBroker,
    readonly target: TargetWindow,
    /** analysts, approvers and end users in headless Chromium share one browser. */
    readonly headless: Browser,
  ) {}

  /** `monitors: 2`: the X screen is two 1280x720 monitors side by side (twoMonitors), the first where the one-monitor layout is. */
  static async start(opts: { brokerClock?: Clock & { now(): number }; policy?: Record<string, unknown>; file?: Record<string, unknown>; monitors?: 1 | 2 } = {}): Promise<Stack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-e2e-'));
    const started: (() => Promise<unknown>)[] = [];
    try {
      const xvfb = await startXvfb({ width: W * (opts.monitors ?? 1), height: H });
      started.push(() => xvfb.stop());
      if (opts.monitors === 2) await twoMonitors(xvfb.display);
      await xsetroot(xvfb.display, '#203040');
      const broker = await startTestBroker('sqlite', { ...(opts.brokerClock ? { clock: opts.brokerClock } : {}), ...(opts.policy ? { policy: opts.policy } : {}), ...(opts.file ? { file: opts.file } : {}) } as never);
      started.push(() => broker.destroy());
      const target = await TargetWindow.open(xvfb.display);
      started.push(() => target.browser.close());
      const headless = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
      const s = new Stack(dir, xvfb, broker, target, headless);
      s.browsers.push(target.browser, headless);
      return s;
    } catch (err) {
      // Whatever did start must not outlive a failed start.
      for (const stop of started.reverse()) await stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async user(role: 'analyst' | 'approver' | 'admin' | 'auditor' | 'supervisor', kind: 'internal' | 'vendor' = 'internal', o: { displayName?: string; organisation?: string } = {}): Promise<Person> {
    const name = `${role.slice(0, 3)}${crypto.randomBytes(3).toString('hex')}`;
    // As an admin would: the account, then its one-time password changed. No API sign-in here,
    // so the next TOTP step is still free for the sign-in form (the broker accepts one step ahead).
    const created = await this.broker.ctx.accounts.create({ username: name, display_name: o.displayName ?? `${name[0]!.toUpperCase()}${name.slice(1)} Tester`, organisation: o.organisation ?? 'Acme IT', kind, roles: [role] }, 'test');
    const api = new ApiClient(this.broker.url, new DeviceKey());
    const password = `pw-${crypto.randomBytes(12).toString('hex')}`;
    const change = await api.post('/api/v1/auth/password', { username: name, password: created.one_time_password, totp: freshTotp(created.totp_secret!), new_password: password });
    if (change.status !== 200) throw new Error(`password change failed: ${JSON.stringify(change.body)}`);
    const user: TestUser = { username: name, password, totpSecret: created.totp_secret!, api, id: created.account.id };
    return { user, name: created.account.display_name };
  }

  /** A host with the real main services; the end user's injects into the Xvfb display. */
  async host(kind: 'end_user' | 'staff', opts: { clock?: Clock; policy?: { controlPromptSeconds?: number; panicChord?: boolean }; createInjector?: () => Promise<Injector>; receiveFolder?: string; hostname?: 'localhost'; port?: number } = {}): Promise<BrowserHost> {
    const dataDir = fs.mkdtempSync(path.join(this.dir, `${kind}-`));
    const display = this.xvfb.display;
    const host = await startBrowserHost({
      brokerUrl: this.broker.url,
      rendererDir: RENDERER_DIR,
      dataDir,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.policy ? { policy: opts.policy } : {}),
      ...(opts.receiveFolder ? { receiveFolder: opts.receiveFolder } : {}),
      ...(opts.hostname ? { hostname: opts.hostname } : {}),
      ...(opts.port ? { port: opts.port } : {}),
      ...(kind === 'end_user' ? { createInjector: opts.createInjector ?? (() => createXTestInjector({ display })), clipboard: new XclipClipboard(display), displays: new X11Displays(display) } : {}),
    });
    this.hosts.push(host);
    return host;
  }

  /** A staff app (analyst or approver) in headless Chromium. */
  async staffPage(host: BrowserHost, viewport = { width: 1280, height: 860 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await this.headless.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(`${host.launchUrl}#/staff`);
    await page.getByRole('heading', { name: 'Support staff sign in' }).waitFor();
    return { context, page };
  }

  /**
   * The end user's app: headed Chromium on the X display, so getDisplayMedia captures the real
   * screen (`source`: the name Chromium's picker would show, picked without asking; null: the
   * picker shows, for the test to click, pickInPicker).
   */
  async endUserPage(host: BrowserHost, hash = '#/', source: string | null = 'Entire screen'): Promise<{ browser: Browser; page: Page }> {
    const browser = await launchCapturingChromium(this.xvfb.display, source);
    this.browsers.push(browser);
    const page = await (await browser.newContext({ viewport: null })).newPage();
    await page.goto(`${host.launchUrl}${hash}`);
    await page.getByRole('heading', { name: /^Get help from / }).waitFor();
    return { browser, page };
  }

  async close(): Promise<void> {
    for (const b of this.browsers) await b.close().catch(() => undefined);
    for (const h of this.hosts) await h.close().catch(() => undefined);
    await this.broker.destroy().catch(() => undefined);
    await this.xvfb.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Headed Chromium in the app window's place on the X display, whose getDisplayMedia picks the
 * entire screen without a picker (the bench's plain-page baseline uses it too).
 */
export function launchCapturingChromium(display: string, source: string | null = 'Entire screen'): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: false,
    env: { ...process.env, DISPLAY: display },
    args: [
      ...CHROMIUM_ARGS,
      ...(source === null ? [] : [`--auto-select-desktop-capture-source=${source}`]),
      `--window-position=${APP_WINDOW.x},${APP_WINDOW.y}`,
      `--window-size=${APP_WINDOW.width},${APP_WINDOW.height}`,
    ],
  });
}

function xrandr(display: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('xrandr', args, { env: { ...process.env, DISPLAY: display }, timeout: 5000 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/**
 * Splits the wide X screen into two 1280x720 monitors (xrandr --setmonitor; Xvfb keeps them
 * because it runs with -noreset). LEFT takes over Xvfb's one output, so there is no third
 * monitor covering both; Chromium's picker names them "Screen 1" and "Screen 2" in the server's
 * order, which lists monitors with an output first.
 */
export async function twoMonitors(display: string): Promise<void> {
  await xrandr(display, ['--setmonitor', 'LEFT', `${W}/338x${H}/190+0+0`, 'screen']);
  await xrandr(display, ['--setmonitor', 'RIGHT', `${W}/338x${H}/190+${W}+0`, 'none']);
}

/**
 * Picks a screen in Chromium's own picker, as the end user would: the picker opens on its Entire
 * Screen tab (the app asks for displaySurface 'monitor') over the app window (APP_WINDOW), where
 * Chromium 156 draws "Screen 1" and "Screen 2" side by side and Share below; the clicks go through
 * the X server (xdotool), since no page can reach a native dialog.
 */
export async function pickInPicker(display: string, screen: 1 | 2): Promise<void> {
  await new Promise((r) => setTimeout(r, 2500));
  await xdotool(display, ['mousemove', screen === 1 ? '805' : '1075', '308', 'click', '1']);
  await new Promise((r) => setTimeout(r, 500));
  await xdotool(display, ['mousemove', '1183', '580', 'click', '1']);
}

/** Signs in through the form with a TOTP code the account has not used yet. */
export async function signIn(page: Page, p: Person): Promise<void> {
  await page.getByLabel('Username').fill(p.user.username);
  await page.getByLabel('Password').fill(p.user.password);
  await page.getByLabel('Authenticator code').fill(freshTotp(p.user.totpSecret));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('staff-name').waitFor();
}

export async function requestSession(page: Page, o: { ticket: string; reason: string; control?: boolean; minutes?: number; also?: ('clipboard' | 'files')[] }): Promise<void> {
  await page.getByLabel('Ticket').fill(o.ticket);
  await page.getByLabel('Reason').fill(o.reason);
  // The form names each capability in the analyst's words (renderer/app/wording.ts).
  if (o.control) await page.getByRole('checkbox', { name: ANALYST_CAPABILITY_TEXT.control.name }).check();
  for (const c of o.also ?? []) await page.getByRole('checkbox', { name: ANALYST_CAPABILITY_TEXT[c].name, exact: true }).check();
  if (o.minutes) await page.getByLabel('Duration').selectOption(String(o.minutes));
  await page.getByRole('button', { name: 'Send request' }).click();
}

/** A port free on 127.0.0.1 now (for a host whose origin the broker must list before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
