/**
 * The auditor's Recordings screen, in real Chromium under Xvfb: a session with control is
 * recorded while the X screen's root window turns red, then blue, then green at known moments;
 * the auditor finds it in the list, plays it from the broker, and each transcript marker (control
 * granted while red, the click while blue) seeks to a frame in that colour. Speeds change how
 * fast the video runs; the viewing is audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RECORDING_POLICY } from '../../common/recording.js';
import { H, ROOT_POINT, Stack, W, missingTools, requestSession, signIn, xsetroot } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot, viewerPoint } from './page-checks.js';
import type { Page } from 'playwright-core';

const SUITE = 'the app end to end: the auditor plays a recording and seeks to its markers';
const skip = skipWithout(SUITE, missingTools());
const RED = '#c81e1e';
const BLUE = '#1e3cc8';
const GREEN = '#1ea03c';
const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const near = (a: readonly number[], hex: string) => rgb(hex).every((v, i) => Math.abs(v - a[i]!) < 45);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The player's frame at the root window's point, once the video has settled after a seek. */
async function playerPixel(page: Page): Promise<{ t: number; rgb: number[] }> {
  return page.evaluate(
    async ([nx, ny]) => {
      const v = document.querySelector('[data-testid="player-video"]') as HTMLVideoElement;
      for (let i = 0; i < 100 && (v.seeking || v.readyState < 2); i++) await new Promise((r) => setTimeout(r, 50));
      const c = document.createElement('canvas');
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      const g = c.getContext('2d')!;
      g.drawImage(v, 0, 0);
      const d = g.getImageData(Math.floor(nx! * c.width), Math.floor(ny! * c.height), 1, 1).data;
      return { t: v.currentTime, rgb: [d[0]!, d[1]!, d[2]!] };
    },
    [ROOT_POINT.x / W, ROOT_POINT.y / H],
  );
}

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  beforeAll(async () => {
    s = await Stack.start({ policy: { recordings: { ...DEFAULT_RECORDING_POLICY, with_control: 'required' } } });
  });
  afterAll(async () => s?.close());

  it('list, play, seek to control granted (red) and the click (blue), speeds, evidence download, audited', { timeout: 240_000 }, async () => {
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const auditor = await s.user('auditor');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(await s.host('staff'));
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Recorded support session', control: true, minutes: 15 });
    const ap = await s.staffPage(await s.host('staff'));
    await signIn(ap.page, approver);
    await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    const eu = await s.endUserPage(await s.host('end_user'));
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await xsetroot(s.xvfb.display, RED);
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 20_000 });
    await sleep(4000);

    // Control granted while the screen is red, and it stays red four seconds more.
    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 10_000 }).toBe('You have control');
    await sleep(4500);
    await xsetroot(s.xvfb.display, BLUE);
    await sleep(4500);
    // The click in the middle of the blue stretch.
    const field = await s.target.centreOf('#i');
    const p = await viewerPoint(an.page, field.x, field.y);
    await an.page.mouse.click(p.x, p.y);
    await sleep(4500);
    await xsetroot(s.xvfb.display, GREEN);
    await sleep(5000);
    await eu.page.getByTestId('stop').click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    const session = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    await expect
      .poll(async () => (await s.broker.ctx.storage.db.selectFrom('recordings').select('state').where('session_id', '=', session.id).executeTakeFirst())?.state, { timeout: 20_000 })
      .toBe('finalised');

    // The auditor's list, filtered by the analyst and the ticket.
    const au = await s.staffPage(await s.host('staff'));
    await signIn(au.page, auditor);
    await au.page.getByRole('heading', { name: 'Recordings' }).waitFor();
    await au.page.getByLabel('Analyst (username)').fill(analyst.user.username);
    await au.page.getByLabel('Ticket', { exact: true }).fill(ticket);
    await au.page.getByRole('button', { name: 'Show recordings' }).click();
    const row = au.page.getByTestId(`recording-${ticket}`);
    await row.waitFor();
    expect(await au.page.getByTestId('recordings-list').locator('tbody tr').count()).toBe(1);
    const text = (await row.textContent())!;
    expect(text).toContain(analyst.user.username);
    expect(text).toContain('The end user stopped the session.');
    expect(text).toContain('Kept');
    expect(await axeSerious(au.page)).toEqual([]);
    await shot(au.page, '80-auditor-recordings-list');

    await row.getByRole('button', { name: `Play ${ticket}` }).click();
    const video = au.page.getByTestId('player-video');
    await video.waitFor();
    await expect.poll(() => video.evaluate((v: HTMLVideoElement) => (Number.isFinite(v.duration) ? v.duration : 0)), { timeout: 15_000 }).toBeGreaterThan(20);
    // Markers from the transcript: control granted and the click, in the order they happened.
    const granted = au.page.getByTestId('marker-control_granted');
    const click = au.page.getByTestId('marker-click');
    await granted.waitFor();

    // Seeking by keyboard: focus the marker and press Enter.
    await granted.focus();
    await au.page.keyboard.press('Enter');
    const atGranted = await playerPixel(au.page);
    expect(near(atGranted.rgb, RED), `control granted at ${atGranted.t} s shows ${atGranted.rgb}`).toBe(true);
    await click.click();
    const atClick = await playerPixel(au.page);
    expect(atClick.t).toBeGreaterThan(atGranted.t + 5);
    expect(near(atClick.rgb, BLUE), `the click at ${atClick.t} s shows ${atClick.rgb}`).toBe(true);
    // Anywhere else: the last seconds are green.
    await video.evaluate((v: HTMLVideoElement) => (v.currentTime = v.duration - 1.5));
    expect(near((await playerPixel(au.page)).rgb, GREEN)).toBe(true);
    expect(await axeSerious(au.page)).toEqual([]);
    await shot(au.page, '81-auditor-recording-player');

    // Speeds: at 4x a second of wall time plays about four seconds of the recording, and so on.
    for (const speed of [1, 2, 4, 8]) {
      await au.page.getByTestId(`speed-${speed}`).click();
      expect(await au.page.getByTestId(`speed-${speed}`).getAttribute('aria-pressed')).toBe('true');
      const advanced = await video.evaluate(async (v: HTMLVideoElement) => {
        v.muted = true;
        v.currentTime = 0;
        await new Promise((r) => (v.onseeked = r));
        await v.play();
        const t0 = v.currentTime;
        const w0 = performance.now();
        await new Promise((r) => setTimeout(r, 1500));
        const out = (v.currentTime - t0) / ((performance.now() - w0) / 1000);
        v.pause();
        return { rate: v.playbackRate, out };
      });
      expect(advanced.rate).toBe(speed);
      expect(advanced.out).toBeGreaterThan(speed * 0.6);
      expect(advanced.out).toBeLessThan(speed * 1.4);
    }

    // Download evidence: the bundle the CLI verifies, saved from the player.
    const download = au.page.waitForEvent('download');
    await au.page.getByRole('button', { name: 'Download evidence' }).click();
    expect((await download).suggestedFilename()).toBe(`evidence-${session.id}.tar`);
    await au.page.getByTestId('evidence-saved').waitFor();

    // The viewing and the export are in the audit chain: who, which.
    await s.broker.ctx.audit.flush();
    const audited = await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type', 'actor', 'session_id']).where('type', 'in', ['recording.viewed', 'recording.exported']).orderBy('seq').execute();
    expect(audited).toEqual([
      { type: 'recording.viewed', actor: `account:${auditor.user.username}`, session_id: session.id },
      { type: 'recording.exported', actor: `account:${auditor.user.username}`, session_id: session.id },
    ]);
  });
});
