/**
 * What a helpdesk hits in its first week (issue 13), through the app's screens in real Chromium
 * against a real broker: the consent screen at the offer's expiry, the decision row in view at
 * ordinary window sizes and 200% zoom, the banner's Stop above a dialog, the staff skip link, a
 * staff page reload, and the host's address without its secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { startBrowserHost } from '../../main/browser-host/server.js';
import { loadOrCreateLaunchSecret } from '../../main/browser-host/launch-secret.js';
import { RENDERER_DIR, Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, inWindow, shot } from './page-checks.js';

const SUITE = 'the app end to end: the first week of a helpdesk';
const skip = skipWithout(SUITE, missingTools());

/** Window sizes people really use, down to the smallest the consent screen must work at. */
const SIZES = [
  { width: 600, height: 500 },
  { width: 680, height: 800 },
  { width: 1024, height: 768 },
];

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    // The shortest offer policy allows, so the test can watch it run out.
    s = await Stack.start({ policy: { offer_ttl_seconds: 30 } });
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  it('the consent decision stays in view at every size; at expiry the screen says so and leads back to code entry', async () => {
    const analyst = await s.user('analyst');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Outlook keeps asking for the password' });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 10_000 });
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByTestId('consent-decision').waitFor();

    // Accept, Decline and the countdown are inside the window, without scrolling, at each size
    // and at 200% zoom of the two small ones (a zoomed window's CSS viewport is half as big).
    const zoomed = SIZES.slice(0, 2).map((v) => ({ width: v.width / 2, height: v.height / 2, zoom: true }));
    for (const v of [...SIZES.map((x) => ({ ...x, zoom: false })), ...zoomed]) {
      await eu.page.setViewportSize({ width: v.width, height: v.height });
      await eu.page.evaluate(() => window.scrollTo(0, 0));
      await eu.page.waitForTimeout(200);
      const label = v.zoom ? `${v.width * 2}x${v.height * 2} at 200%` : `${v.width}x${v.height}`;
      for (const id of ['consent-decision', 'offer-countdown']) expect(await inWindow(eu.page, id), `${id} at ${label}`).toBe(true);
      for (const name of ['Accept and share my screen', 'Decline']) {
        const box = (await eu.page.getByRole('button', { name, exact: true }).boundingBox())!;
        expect(box.y + box.height, `${name} at ${label}`).toBeLessThanOrEqual(v.height + 1);
        expect(box.x + box.width, `${name} at ${label}`).toBeLessThanOrEqual(v.width + 1);
      }
      expect(await eu.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1), `horizontal scroll at ${label}`).toBe(false);
      if (v.zoom) expect(await axeSerious(eu.page)).toEqual([]);
      await shot(eu.page, `50-end-user-consent-${v.width}x${v.height}${v.zoom ? '-200pct' : ''}`, { window: true });
    }
    await eu.page.setViewportSize({ width: 680, height: 720 });

    // Nobody answers: at 00:00 the screen says the offer expired and offers the way back.
    const lapsed = eu.page.getByTestId('offer-lapsed');
    await lapsed.waitFor({ timeout: 45_000 });
    expect(await eu.page.getByRole('heading', { level: 1 }).textContent()).toBe('This offer has expired');
    expect(await lapsed.textContent()).toContain('You did not answer in time, so nothing was shared');
    expect(await eu.page.getByRole('button', { name: 'Accept and share my screen' }).count()).toBe(0);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '51-end-user-offer-expired');

    // The broker ended it as not answered, and the analyst reads exactly that.
    await expect.poll(async () => (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)?.end_reason, { timeout: 15_000 }).toBe('consent_timed_out');
    await expect.poll(() => an.page.getByTestId('request-state').textContent(), { timeout: 10_000 }).toContain('The end user did not answer in time');
    expect(await an.page.locator('main').textContent()).not.toMatch(/consent_timed_out|ended\(|pending_consent/);
    await shot(an.page, '52-analyst-end-user-did-not-answer');

    await eu.page.getByRole('button', { name: 'Enter a new code' }).click();
    await eu.page.getByRole('heading', { name: /^Get help from / }).waitFor();
    expect(await eu.page.getByLabel('Join code').inputValue()).toBe('');
  }, 120_000);

  it('the staff skip link moves focus to the content and keeps the staff screen; a reload keeps the person signed in', async () => {
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    // The screen's heading has focus on arrival; the skip link is the page's first stop before it.
    await an.page.keyboard.press('Shift+Tab');
    expect(await an.page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await shot(an.page, '53-staff-skip-link-focused', { window: true });
    await an.page.keyboard.press('Enter');
    expect(await an.page.evaluate(() => location.hash)).toBe('#/staff');
    expect(await an.page.evaluate(() => document.activeElement?.textContent)).toBe('Support staff sign in');
    expect(await an.page.getByRole('heading', { name: /^Get help from / }).count()).toBe(0);

    await signIn(an.page, analyst);
    await an.page.reload();
    await an.page.getByTestId('staff-name').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('staff-name').textContent()).toBe(analyst.name);
    // Another tab is another person's desk: it asks to sign in.
    const other = await an.context.newPage();
    await other.goto(`${anHost.origin}/#/staff`);
    await other.getByRole('heading', { name: 'Support staff sign in' }).waitFor();
    // Signing out forgets the tab's sign-in: a reload asks again.
    await an.page.getByRole('button', { name: 'Sign out' }).click();
    await an.page.reload();
    await an.page.getByRole('heading', { name: 'Support staff sign in' }).waitFor();
  });

  it('the address stays the same across a restart (secret kept 0600), and without its secret it says how to get in', async () => {
    const dataDir = fs.mkdtempSync(path.join(s.dir, 'restart-'));
    const secret = loadOrCreateLaunchSecret(dataDir);
    expect(fs.statSync(path.join(dataDir, 'host-secret')).mode & 0o777).toBe(0o600);
    const first = await startBrowserHost({ brokerUrl: s.broker.url, rendererDir: RENDERER_DIR, dataDir, port: 0, secret });
    const port = new URL(first.origin).port;
    const ctx = await s.headless.newContext();
    const page = await ctx.newPage();
    await page.goto(`${first.launchUrl}#/staff`);
    await page.getByRole('heading', { name: 'Support staff sign in' }).waitFor();
    await first.close();
    // Restarted on the same port with the kept secret: the open tab reloads into the app.
    expect(loadOrCreateLaunchSecret(dataDir)).toBe(secret);
    const second = await startBrowserHost({ brokerUrl: s.broker.url, rendererDir: RENDERER_DIR, dataDir, port: Number(port), secret: loadOrCreateLaunchSecret(dataDir) });
    try {
      expect(second.launchUrl).toBe(first.launchUrl);
      await page.reload();
      await page.getByRole('heading', { name: 'Support staff sign in' }).waitFor();
      // A browser without the secret is told how to get in, not a bare "forbidden".
      const fresh = await (await s.headless.newContext()).newPage();
      const res = await fresh.goto(second.origin);
      expect(res?.status()).toBe(403);
      await fresh.getByRole('heading', { name: 'Open Chaperone with its full address' }).waitFor();
      expect(await fresh.locator('body').textContent()).toContain('host-secret');
      expect(await axeSerious(fresh)).toEqual([]);
      await shot(fresh, '54-host-missing-secret');
      // Programs that are not a person's browser still get nothing more than a refusal.
      const api = await fetch(`${second.origin}/api/v1/me`);
      expect(api.status).toBe(403);
      expect(await api.text()).toBe('forbidden');
    } finally {
      await ctx.close();
      await second.close();
    }
  });

  it('Stop stays above a dialog and in its Tab cycle; End session and the kill switch ask first; the kill reason reaches both sides and the audit', async () => {
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Printer queue is stuck', control: true });
    const ap = await s.staffPage(anHost);
    await signIn(ap.page, approver);
    // The approver's notice: a count in the title, when it was asked, how long the window has left.
    const pendingCard = ap.page.getByTestId(`pending-${ticket}`);
    await pendingCard.waitFor();
    await expect.poll(() => ap.page.title()).toBe('(1) request waits for approval — Chaperone remote support');
    expect(await pendingCard.getByTestId('asked-at').textContent()).toMatch(/^at \d{1,2}:\d{2}/);
    expect(await pendingCard.getByTestId('approval-window').textContent()).toMatch(/^\d{2}:\d{2} left to decide$/);
    await shot(ap.page, '68-approver-pending-notice');
    await pendingCard.getByRole('button', { name: `Approve ${ticket}` }).click();
    await ap.page.getByTestId('approvals-message').waitFor();
    await expect.poll(() => ap.page.title()).toBe('Chaperone remote support');
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 10_000 });
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);

    // A control prompt is open on the end user's side: the banner is not dimmed, Stop is what a
    // click there hits, and Tab from the dialog reaches the banner's buttons.
    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    const hit = await eu.page.getByTestId('stop').evaluate((el) => {
      const r = el.getBoundingClientRect();
      return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === el;
    });
    expect(hit).toBe(true);
    expect(await inWindow(eu.page, 'banner-countdown')).toBe(true);
    const reached: string[] = [];
    for (let i = 0; i < 8; i++) {
      await eu.page.keyboard.press('Tab');
      reached.push(await eu.page.evaluate(() => (document.activeElement?.closest('[data-above-dialogs]') ? `banner:${document.activeElement?.textContent}` : (document.activeElement?.textContent ?? ''))));
    }
    expect(reached).toContain('banner:Stop');
    expect(reached.every((r) => r.startsWith('banner:') || r.length > 0)).toBe(true);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '55-end-user-stop-above-dialog', { window: true });
    await eu.page.getByRole('button', { name: 'Deny control' }).click();
    await eu.page.getByTestId('control-prompt').waitFor({ state: 'detached' });

    // End session asks first; keeping it changes nothing.
    await an.page.getByRole('button', { name: 'End session' }).click();
    await an.page.getByTestId('end-session-confirm').waitFor();
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '56-analyst-end-session-confirm', { window: true });
    await an.page.getByRole('button', { name: 'Keep the session' }).click();
    expect(await an.page.getByTestId('viewer-state').textContent()).toBe('View only');
    expect((await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)?.state).toBe('active');

    // The approver's kill switch asks first, with an optional reason that both sides read.
    const live = ap.page.getByTestId(`active-${ticket}`);
    await live.waitFor({ timeout: 10_000 });
    await live.getByRole('button', { name: `Kill switch: end ${ticket} now` }).click();
    await ap.page.getByTestId('kill-confirm').waitFor();
    await ap.page.getByLabel('Reason (optional)').fill('Wrong computer: we will call you back');
    expect(await axeSerious(ap.page)).toEqual([]);
    await shot(ap.page, '57-approver-kill-confirm', { window: true });
    await ap.page.getByRole('button', { name: `End ${ticket} now`, exact: true }).click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await eu.page.getByTestId('end-reason').textContent()).toBe('An administrator or approver ended the session with the kill switch.');
    expect(await eu.page.getByTestId('end-note').textContent()).toBe('The reason they gave: Wrong computer: we will call you back');
    await an.page.getByTestId('end-note').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('end-note').textContent()).toContain('Wrong computer: we will call you back');
    await shot(eu.page, '58-end-user-killed-with-reason');
    await s.broker.ctx.audit.flush();
    const view = (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)!;
    const ended = await s.broker.ctx.storage.db.selectFrom('audit_events').select(['meta']).where('session_id', '=', view.id).where('type', '=', 'session.ended').executeTakeFirstOrThrow();
    expect(JSON.parse(String(ended.meta))).toMatchObject({ reason: 'revoked', kill_switch: true, kill_reason: 'Wrong computer: we will call you back' });

    // The kill switch's notice goes when the list moves on (a new request arrives), not minutes later.
    await ap.page.getByTestId('approvals-message').waitFor();
    const other = await s.user('analyst');
    const an2 = await s.staffPage(anHost);
    await signIn(an2.page, other);
    await requestSession(an2.page, { ticket: `${ticket}-2`, reason: 'Second printer', control: true });
    await ap.page.getByTestId(`pending-${ticket}-2`).waitFor({ timeout: 10_000 });
    await expect.poll(() => ap.page.getByTestId('approvals-message').count()).toBe(0);
    await expect.poll(() => ap.page.title()).toMatch(/^\(1\) /);
  }, 150_000);

  it('Cancel request asks first, and then says the request was cancelled (not that a session ended)', async () => {
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket: `INC-${Date.now() % 100000}`, reason: 'Password reset help' });
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    await an.page.getByRole('button', { name: 'Cancel request' }).click();
    await an.page.getByTestId('cancel-request-confirm').waitFor();
    await shot(an.page, '59-analyst-cancel-request-confirm', { window: true });
    await an.page.keyboard.press('Escape');
    await an.page.getByTestId('cancel-request-confirm').waitFor({ state: 'detached' });
    expect(await an.page.getByTestId('join-code').count()).toBe(1);
    await an.page.getByRole('button', { name: 'Cancel request' }).click();
    await an.page.getByRole('button', { name: 'Cancel the request' }).click();
    await expect.poll(() => an.page.getByTestId('request-state').textContent(), { timeout: 10_000 }).toBe('You cancelled the request. No session took place.');
  });
});
