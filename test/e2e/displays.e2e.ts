/**
 * Two displays, through both apps on one real X screen split into two monitors (xrandr
 * --setmonitor): the consent screen says one display is shared, the end user picks display 1 in
 * Chromium's own picker (clicked through the X server: kit/e2e-stack.ts pickInPicker), then
 * switches to display 2 from the banner and the picker; the sender's track is replaced on the same peer
 * connection without renegotiation, the analyst's viewer says "Display 2 of 2, 1280×720" and its
 * picture shows what is on display 2, and the analyst's click on that picture lands on display 2.
 * The session's recording follows the switch in the same file (renderer/session/frame-relay.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_WINDOW, CHROMIUM_ARGS, H, ROOT, Stack, TargetWindow, W, missingTools, pickInPicker, requestSession, signIn } from '../../kit/e2e-stack.js';
import { chromium } from 'playwright-core';
import { CHROMIUM_PATH, grabScreen, mouseLocation, xdotool } from '../../kit/xvfb.js';
import { rgbaPng } from '../helpers/png.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { at200, axeSerious, shot, viewerPixel, viewerPoint } from './page-checks.js';

const SUITE = 'the app end to end: two displays, a switch from the banner, input on the display shown';
const skip = skipWithout(SUITE, missingTools());

const near = (got: [number, number, number] | null, want: [number, number, number]) => got !== null && got.every((v, i) => Math.abs(v - want[i]!) <= 48);
const YELLOW: [number, number, number] = [255, 208, 0];
const WHITE: [number, number, number] = [255, 255, 255];
/** A point inside both target windows' pages, as a fraction of the display each is on. */
const PAGE_POINT = { x: 300 / W, y: 300 / H };

const RECORD_PCS = `(() => {
  const P = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends P { constructor(...a) { super(...a); window.__pcs.push(this); } };
})();`;

/** The end user's video sender: which capture it sends, and the local description (unchanged: no renegotiation). */
function sender(page: Page): Promise<{ pcs: number; label: string | null; sdp: string | null }> {
  return page.evaluate(() => {
    const pcs = ((window as unknown as { __pcs: RTCPeerConnection[] }).__pcs ?? []).filter((p) => p.connectionState !== 'closed');
    const s = pcs[0]?.getSenders().find((x) => x.track?.kind === 'video');
    return { pcs: pcs.length, label: s?.track?.label ?? null, sdp: pcs[0]?.localDescription?.sdp ?? null };
  });
}

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let right: TargetWindow;
  beforeAll(async () => {
    s = await Stack.start({ monitors: 2 });
    // Display 2 shows a yellow window with its own button.
    right = await TargetWindow.open(s.xvfb.display, { at: { x: W, y: 0 }, background: '#ffd000' });
    s.browsers.push(right.browser);
  });
  afterAll(async () => s?.close());

  it("in a browser the chooser is the browser's own picker, offering each display; cancelling it shares nothing, picking display 2 gives display 2", async () => {
    const host = await s.host('end_user');
    // No --auto-select here: Chromium shows its picker on the X screen.
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: false, env: { ...process.env, DISPLAY: s.xvfb.display }, args: [...CHROMIUM_ARGS, `--window-position=${APP_WINDOW.x},${APP_WINDOW.y}`, `--window-size=${APP_WINDOW.width},${APP_WINDOW.height}`] });
    s.browsers.push(browser);
    const page = await (await browser.newContext({ viewport: null })).newPage();
    await page.goto(host.launchUrl);
    await page.evaluate(() => {
      const w = window as unknown as { __picked: Promise<string> };
      w.__picked = navigator.mediaDevices.getDisplayMedia({ video: { displaySurface: 'monitor' } }).then(
        (m) => m.getVideoTracks()[0]!.label,
        (e: Error) => e.name,
      );
    });
    await new Promise((r) => setTimeout(r, 3000));
    // The picker is a native dialog: only the X server's own pixels show it.
    const img = await grabScreen(s.xvfb.display, { x: 0, y: 0, width: W, height: H });
    fs.mkdirSync(path.join(ROOT, 'test-results/screens'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'test-results/screens/98-browser-picker-two-displays.png'), rgbaPng(W, H, img.data));
    await xdotool(s.xvfb.display, ['key', 'Escape']);
    expect(await page.evaluate(() => (window as unknown as { __picked: Promise<string> }).__picked)).toBe('NotAllowedError');

    // Picked in the picker itself: "Screen 2" and Share (where Chromium draws them over this window),
    // and main knows the monitor it gave: display 2 of 2, whose rectangle input will land on.
    await page.evaluate(() => {
      const w = window as unknown as { __picked: Promise<string> };
      w.__picked = navigator.mediaDevices.getDisplayMedia({ video: { displaySurface: 'monitor' } }).then(
        (m) => m.getVideoTracks()[0]!.getSettings().deviceId ?? '',
        (e: Error) => e.name,
      );
    });
    await pickInPicker(s.xvfb.display, 2);
    const picked = await page.evaluate(() => (window as unknown as { __picked: Promise<string> }).__picked);
    expect(picked).toMatch(/^screen:\d+:0$/);
    expect(await host.services.handlers['displays.select']({ id: picked })).toEqual({ ok: true, display: { id: picked, index: 2, width: W, height: H }, count: 2 });
  });

  it('shares display 1, switches to display 2, the analyst sees and clicks display 2', async () => {
    const euHost = await s.host('end_user');
    const anHost = await s.host('staff');
    const apHost = await s.host('staff');
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const ticket = `INC-${Date.now() % 100000}`;
    // Tall enough that the whole picture is in view: nothing scrolls between aiming and clicking.
    const an = await s.staffPage(anHost, { width: 1280, height: 1200 });
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Spreadsheet on the second monitor', control: true });
    const ap = await s.staffPage(apHost);
    await signIn(ap.page, approver);
    await ap.page.getByRole('button', { name: `Approve ${ticket}` }).click();
    await an.page.getByTestId('join-code').waitFor({ timeout: 15_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();

    // No auto-selection: the end user picks in Chromium's own picker, "Screen 1" (the left monitor) first.
    const eu = await s.endUserPage(euHost, '#/', null);
    await eu.page.context().addInitScript(RECORD_PCS);
    await eu.page.reload();
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    const consentLine = eu.page.getByTestId('consent-display');
    await consentLine.waitFor();
    expect(await consentLine.textContent()).toBe('One of your 2 displays, the one you pick when your browser asks next. Only that display is shared; the banner says which.');
    await shot(eu.page, '95-end-user-consent-two-displays');
    expect(await axeSerious(eu.page)).toEqual([]);
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await pickInPicker(s.xvfb.display, 1);
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 30_000 });

    // Display 1 of 2: said on both sides, and the picture is the left monitor (the white target window).
    await expect.poll(() => eu.page.getByTestId('banner-display').textContent(), { timeout: 15_000 }).toBe('Sharing display 1 of 2');
    await expect.poll(() => an.page.getByTestId('viewer-display').textContent(), { timeout: 15_000 }).toBe("Showing the end user's Display 1 of 2, 1280×720");
    await expect.poll(() => viewerPixel(an.page, PAGE_POINT.x, PAGE_POINT.y).then((p) => near(p, WHITE)), { timeout: 15_000 }).toBe(true);
    const first = await sender(eu.page);
    expect(first.pcs).toBe(1);

    // Control, allowed by the end user after the code check.
    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent()).toBe('You have control');

    // The session is recorded (control is asked for): chunks reach the broker before and after the switch.
    const session = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    const chunks = async () => {
      await s.broker.ctx.audit.flush();
      return (await s.broker.ctx.storage.db.selectFrom('audit_events').select('seq').where('session_id', '=', session.id).where('type', '=', 'recording.chunk').execute()).length;
    };
    await expect.poll(chunks, { timeout: 20_000, interval: 500 }).toBeGreaterThan(0);

    // The switch: the end user presses Switch display and picks the right monitor in Chromium's picker.
    await eu.page.getByTestId('switch-display').click();
    await pickInPicker(s.xvfb.display, 2);
    await expect.poll(() => eu.page.getByTestId('banner-display').textContent(), { timeout: 15_000 }).toBe('Sharing display 2 of 2');
    await expect.poll(() => an.page.getByTestId('viewer-display').textContent(), { timeout: 15_000 }).toBe("Showing the end user's Display 2 of 2, 1280×720");
    await expect.poll(() => viewerPixel(an.page, PAGE_POINT.x, PAGE_POINT.y).then((p) => near(p, YELLOW)), { timeout: 15_000 }).toBe(true);
    // The same peer connection, another capture on its sender, the session description as it was.
    const after = await sender(eu.page);
    expect(after.pcs).toBe(1);
    expect(after.label).not.toBe(first.label);
    expect(after.sdp).toBe(first.sdp);
    expect(await eu.page.getByTestId('notice').textContent()).toBe('You now share Display 2 of 2, 1280×720.');
    await shot(eu.page, '96-end-user-banner-display-2');
    await shot(an.page, '97-analyst-viewer-display-2-of-2');
    expect(await axeSerious(eu.page)).toEqual([]);
    expect(await axeSerious(an.page)).toEqual([]);
    expect(await at200(eu.page, '96b-end-user-banner-display-2-200pct', ['Switch display…', 'Pause sharing', 'Stop'])).toEqual({ horizontalScroll: false, clipped: [] });

    // A click on the picture of display 2's button lands on that button, on display 2.
    await right.reset();
    await s.target.reset();
    const box = (await right.page.locator('#b').boundingBox())!;
    const onDisplay2 = { x: (right.origin.x - W + box.x + box.width / 2) / W, y: (right.origin.y + box.y + box.height / 2) / H };
    const p = await viewerPoint(an.page, onDisplay2.x, onDisplay2.y);
    await an.page.mouse.click(p.x, p.y);
    await expect.poll(async () => (await right.state()).clicks, { timeout: 5000 }).toBe(1);
    expect((await s.target.state()).clicks).toBe(0);
    const at = await mouseLocation(s.xvfb.display);
    expect(at.x).toBeGreaterThanOrEqual(W);
    expect(Math.abs(at.x - (right.origin.x + box.x + box.width / 2))).toBeLessThanOrEqual(2);

    // The recording went on through the switch, in the same file: it starts on display 1 and ends on display 2.
    const atClick = await chunks();
    await expect.poll(chunks, { timeout: 20_000, interval: 500 }).toBeGreaterThan(atClick + 1);
    await eu.page.getByTestId('stop').click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    const finalised = async () => {
      await s.broker.ctx.audit.flush();
      return (await s.broker.ctx.storage.db.selectFrom('audit_events').select('seq').where('session_id', '=', session.id).where('type', '=', 'recording.finalised').execute()).length;
    };
    await expect.poll(finalised, { timeout: 20_000 }).toBe(1);
    const webm = fs.readFileSync(path.join(s.broker.dataDir, 'recordings', session.id, 'recording.webm'));
    const [start, end] = await an.page.evaluate(
      async ([b64, nx, ny]) => {
        const bytes = Uint8Array.from(atob(b64 as string), (c) => c.charCodeAt(0));
        const v = document.createElement('video');
        v.muted = true;
        v.src = URL.createObjectURL(new Blob([bytes], { type: 'video/webm' }));
        await new Promise((r) => v.addEventListener('loadeddata', r, { once: true }));
        const at = async (t: number) => {
          v.currentTime = t;
          await new Promise((r) => v.addEventListener('seeked', r, { once: true }));
          const c = document.createElement('canvas');
          c.width = v.videoWidth;
          c.height = v.videoHeight;
          const g = c.getContext('2d')!;
          g.drawImage(v, 0, 0);
          const d = g.getImageData(Math.floor((nx as number) * c.width), Math.floor((ny as number) * c.height), 1, 1).data;
          return [d[0]!, d[1]!, d[2]!] as [number, number, number];
        };
        return [await at(0.5), await at(Math.max(0.5, v.duration - 0.5))];
      },
      [webm.toString('base64'), PAGE_POINT.x, PAGE_POINT.y] as const,
    );
    expect({ start: near(start, WHITE), end: near(end, YELLOW) }).toEqual({ start: true, end: true });
  });

});
