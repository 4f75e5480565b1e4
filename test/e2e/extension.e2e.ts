/**
 * More time, through the app's screens, and the modal dialogs driven by keyboard only. One session
 * that needs an approver (it asks for control), on a broker whose policy caps sessions at 25
 * minutes: the analyst asks for more time, the approver sees it and decides, the end user consents
 * again, and the countdown on both sides moves to the new end; then the refused paths (the end
 * user says no, by button and by Escape; the approver rejects; beyond the hard maximum). Last, the
 * clocks jump past the old end: the session and the end user's screen grant live on.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { TestClock } from '../helpers/clock.js';
import { Stack, missingTools, requestSession, signIn, type Person } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { at200, axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: more time, and dialogs by keyboard';
const skip = skipWithout(SUITE, missingTools());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What has keyboard focus: its test id, else its id, else its text. */
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const a = document.activeElement as HTMLElement | null;
    if (!a || a === document.body) return 'body';
    return a.getAttribute('data-testid') ?? (a.id || (a.textContent ?? '').trim());
  });
}

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let clock: TestClock;
  let euHost: BrowserHost;
  let an: { page: Page };
  let ap: { page: Page };
  let eu: { page: Page };
  let analyst: Person;
  let ticket: string;
  let sessionId: string;

  const brokerView = async () => s.broker.ctx.sessions.view(sessionId);
  const minutesShown = async (page: Page, testId: string) => Number(((await page.getByTestId(testId).textContent()) ?? '').split(':')[0]);

  /** The analyst asks for `minutes` more through the dialog, by keyboard. */
  async function askForMore(minutes: 5 | 15 | 30): Promise<void> {
    await an.page.getByTestId('extend').focus();
    await an.page.keyboard.press('Enter');
    await an.page.getByTestId('extend-dialog').waitFor();
    await an.page.keyboard.press('Tab');
    expect(await focused(an.page)).toBe('extend-minutes');
    await an.page.getByLabel('More time', { exact: true }).selectOption(String(minutes));
    await an.page.keyboard.press('Tab');
    await an.page.keyboard.press('Enter');
    await expect.poll(() => an.page.getByTestId('extend-dialog').count()).toBe(0);
  }

  async function approverDecides(approve: boolean, reason = ''): Promise<void> {
    const card = ap.page.getByTestId(`extension-${ticket}`);
    await card.waitFor({ timeout: 10_000 });
    if (reason) await card.getByLabel(/Reason if you reject/).fill(reason);
    await card.getByRole('button', { name: `${approve ? 'Approve' : 'Reject'} more time for ${ticket}` }).click();
    await expect.poll(() => ap.page.getByTestId(`extension-${ticket}`).count(), { timeout: 10_000 }).toBe(0);
  }

  beforeAll(async () => {
    clock = new TestClock();
    s = await Stack.start({ brokerClock: clock, policy: { max_duration_minutes: 15, hard_max_minutes: 25, heartbeat_timeout_seconds: 300 } });
    // One clock for the broker and every host, so proofs stay in time after the jump at the end.
    euHost = await s.host('end_user', { clock });
    const anHost = await s.host('staff', { clock });
    const apHost = await s.host('staff', { clock });
    analyst = await s.user('analyst');
    const approver = await s.user('approver', 'internal', { displayName: 'Bob Ode' });
    ticket = `INC-${Date.now() % 100000}`;

    an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Mail archive migration', control: true, minutes: 15 });
    ap = await s.staffPage(apHost);
    await signIn(ap.page, approver);
    await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();

    eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas-large').waitFor({ timeout: 20_000 });
    sessionId = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!.id;
  }, 120_000);

  afterAll(async () => {
    clock?.dispose();
    await s?.close();
  });

  it("the analyst's Extend dialog keeps Tab inside, Escape cancels, focus returns to Extend", async () => {
    await an.page.getByTestId('extend').focus();
    await an.page.keyboard.press('Enter');
    await an.page.getByTestId('extend-dialog').waitFor();
    // The dialog itself has focus first: nothing is chosen by an Enter pressed by habit.
    expect(await focused(an.page)).toBe('extend-dialog');
    await shot(an.page, '40-analyst-extend-dialog');
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await an.page.keyboard.press('Tab');
      order.push(await focused(an.page));
    }
    expect(order).toEqual(['extend-minutes', 'Ask for more time', 'Cancel', 'extend-minutes']);
    await an.page.keyboard.press('Shift+Tab');
    expect(await focused(an.page)).toBe('Cancel');
    await an.page.keyboard.press('Shift+Tab');
    await an.page.keyboard.press('Shift+Tab');
    await an.page.keyboard.press('Shift+Tab');
    expect(await focused(an.page)).toBe('Cancel');
    expect(await axeSerious(an.page)).toEqual([]);
    await an.page.keyboard.press('Escape');
    await expect.poll(() => an.page.getByTestId('extend-dialog').count()).toBe(0);
    expect(await focused(an.page)).toBe('extend');
    // Cancelled: nothing was asked.
    expect(await eu.page.getByTestId('extension-prompt').count()).toBe(0);
  });

  it("the end user's control prompt keeps Tab inside, Escape denies, focus returns to where it was", async () => {
    await eu.page.getByLabel('Message').focus();
    await an.page.getByTestId('request-control').click();
    const prompt = eu.page.getByTestId('control-prompt');
    await prompt.waitFor();
    expect(await focused(eu.page)).toBe('control-prompt');
    // The first control of the session comes with the code check: the code, then three choices.
    await expect.poll(() => eu.page.getByTestId('prompt-sas').textContent()).toMatch(/^\d{3} \d{3}$/);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await eu.page.keyboard.press('Tab');
      order.push(await focused(eu.page));
    }
    // After the dialog's own choices, Tab reaches the banner (Pause sharing, Help, Stop): Stop is never behind a dialog.
    expect(order).toEqual(['Yes, the same code: allow control', 'No, a different code: end the session', 'Deny control', 'Pause sharing']);
    await eu.page.keyboard.press('Shift+Tab');
    expect(await focused(eu.page)).toBe('Deny control');
    await eu.page.keyboard.press('Escape');
    await expect.poll(() => prompt.count()).toBe(0);
    expect(await focused(eu.page)).toBe('chat-input');
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent()).toBe('The end user did not allow control.');
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind)).toEqual(['capture']);
  });

  it('more time: the approver approves, the end user agrees, both countdowns move to the new end', async () => {
    const before = (await brokerView()).expires_at!;
    expect(await minutesShown(eu.page, 'banner-countdown')).toBeLessThanOrEqual(15);
    await askForMore(5);
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent()).toBe('Waiting for an approver to allow 5 more minutes; the end user is asked after that.');
    expect(await an.page.getByTestId('extend').textContent()).toBe('More time: waiting for an approver and the end user…');
    await shot(an.page, '41-analyst-extension-awaiting-approval');

    // The approver sees who, how much, why and until when.
    const card = ap.page.getByTestId(`extension-${ticket}`);
    await card.waitFor({ timeout: 10_000 });
    const text = (await card.textContent()) ?? '';
    expect(text).toContain(`${analyst.name} (Acme IT, internal analyst) asks for 5 more minutes`);
    expect(text).toContain('Mail archive migration');
    expect(text).toContain("see the user's screen, chat, ask for control");
    expect(text).toContain('Latest end policy allows');
    // Nothing reaches the end user before the approver has decided.
    expect(await eu.page.getByTestId('extension-prompt').count()).toBe(0);
    expect(await axeSerious(ap.page)).toEqual([]);
    await shot(ap.page, '42-approver-extension-pending');
    await approverDecides(true);

    // The end user is asked again, with the new end, and agrees (keyboard: Tab stays inside).
    const prompt = eu.page.getByTestId('extension-prompt');
    await prompt.waitFor({ timeout: 10_000 });
    expect(await prompt.textContent()).toContain(`${analyst.name} asks for 5 more minutes`);
    expect(await focused(eu.page)).toBe('extension-prompt');
    // Tab goes Allow, No, then the banner's Pause sharing, Help, Stop, and round to Allow again.
    for (let i = 0; i < 6; i++) await eu.page.keyboard.press('Tab');
    expect(await focused(eu.page)).toBe('Allow 5 more minutes');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '43-end-user-extension-prompt');
    expect(await at200(eu.page, '43b-end-user-extension-prompt-200pct', ['Allow 5 more minutes', 'No, keep the current end'])).toEqual({ horizontalScroll: false, clipped: [] });
    expect(await focused(eu.page)).toBe('Allow 5 more minutes');
    await eu.page.keyboard.press('Enter');

    await expect.poll(async () => (await brokerView()).expires_at, { timeout: 10_000 }).toBe(before + 5 * 60_000);
    const after = (await brokerView()).expires_at!;
    await expect.poll(() => minutesShown(eu.page, 'banner-countdown')).toBeGreaterThanOrEqual(19);
    await expect.poll(() => minutesShown(an.page, 'viewer-countdown')).toBeGreaterThanOrEqual(19);
    expect(await eu.page.getByTestId('notice').textContent()).toMatch(/^The session was extended until /);
    expect(await an.page.getByTestId('viewer-notice').textContent()).toMatch(/^The session was extended until /);
    // Main moved the screen grant's end with it (the end user agreed on this machine).
    expect(await euHost.services.handlers['grants.list']()).toEqual([{ sessionId, kind: 'capture', expiresAt: after }]);
    await shot(eu.page, '44-end-user-extended');
    await shot(an.page, '45-analyst-extended');
  });

  it('refused: the end user says no (button, then Escape), the approver rejects; the end stays', async () => {
    const end = (await brokerView()).expires_at!;

    await askForMore(5);
    await approverDecides(true);
    await eu.page.getByTestId('extension-prompt').waitFor({ timeout: 10_000 });
    await eu.page.getByRole('button', { name: 'No, keep the current end' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent(), { timeout: 10_000 }).toMatch(/^More time was not granted\. The end user said no\. The session still ends at /);
    expect(await eu.page.getByTestId('notice').textContent()).toMatch(/^You said no to more time\. The session still ends at /);
    expect((await brokerView()).expires_at).toBe(end);
    expect(await minutesShown(eu.page, 'banner-countdown')).toBeLessThanOrEqual(20);
    await shot(an.page, '46-analyst-extension-declined');

    await askForMore(5);
    await approverDecides(true);
    await eu.page.getByTestId('extension-prompt').waitFor({ timeout: 10_000 });
    await eu.page.keyboard.press('Escape');
    await expect.poll(() => eu.page.getByTestId('extension-prompt').count()).toBe(0);
    await expect.poll(() => eu.page.getByTestId('notice').textContent()).toMatch(/^You said no to more time/);
    expect((await brokerView()).expires_at).toBe(end);

    await askForMore(5);
    await approverDecides(false, 'change freeze until 18:00');
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent(), { timeout: 10_000 }).toMatch(/^More time was not granted\. Bob Ode rejected it: “change freeze until 18:00”\. The session still ends at /);
    expect(await eu.page.getByTestId('extension-prompt').count()).toBe(0);
    expect((await brokerView()).expires_at).toBe(end);
    await expect.poll(() => an.page.getByTestId('extend').textContent()).toBe('Extend…');

    await s.broker.ctx.audit.flush();
    const types = (await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type']).where('session_id', '=', sessionId).orderBy('seq').execute()).map((e) => e.type);
    expect(types.filter((t) => t.startsWith('extension.'))).toEqual([
      'extension.requested',
      'extension.approved',
      'extension.accepted',
      'extension.requested',
      'extension.approved',
      'extension.declined',
      'extension.requested',
      'extension.approved',
      'extension.declined',
      'extension.requested',
      'extension.rejected',
    ]);
  });

  it('beyond the hard maximum: a clear message, nothing asked of anyone', async () => {
    const end = (await brokerView()).expires_at!;
    await askForMore(15);
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent(), { timeout: 10_000 }).toMatch(
      /^No more time can be added: the session cannot run past its hard maximum of 25 minutes\. The session still ends at /,
    );
    await sleep(2500);
    expect(await ap.page.getByTestId(`extension-${ticket}`).count()).toBe(0);
    expect(await eu.page.getByTestId('extension-prompt').count()).toBe(0);
    expect((await brokerView()).expires_at).toBe(end);
    expect(await an.page.getByTestId('extend').textContent()).toBe('Extend…');
    await shot(an.page, '47-analyst-extension-hard-max');
  });

  it('past the old end the session and the screen grant live on, until the new end', async () => {
    const view = await brokerView();
    // Old end: 15 minutes after activation; the new one 20. Steps stay under the heartbeat timeout.
    const target = view.activated_at! + 16 * 60_000;
    while (clock.now() < target) {
      await clock.advance(Math.min(4 * 60_000, target - clock.now()));
      await sleep(6000);
    }
    expect((await brokerView()).state).toBe('active');
    expect(await eu.page.getByTestId('end-screen').count()).toBe(0);
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind)).toEqual(['capture']);
    expect(await an.page.getByTestId('viewer-state').textContent()).toBe('View only');

    await clock.advance(view.expires_at! - clock.now() + 1000);
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await eu.page.getByTestId('end-reason').textContent()).toBe('The session reached the end of its time.');
    expect((await brokerView()).end_reason).toBe('expired');
    expect(await euHost.services.handlers['grants.list']()).toEqual([]);
  }, 120_000);

  it('when policy needs no approver for the session, the request for more time goes straight to the end user', async () => {
    await eu.page.getByRole('button', { name: 'Done' }).click();
    await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    await an.page.getByRole('button', { name: 'New request' }).click();
    ticket = `INC-${Date.now() % 100000}`;
    await requestSession(an.page, { ticket, reason: 'Printer queue check', minutes: 15 });
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas-large').waitFor({ timeout: 20_000 });
    sessionId = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!.id;
    const before = (await brokerView()).expires_at!;

    await askForMore(5);
    expect(await an.page.getByTestId('extend').textContent()).toBe('More time: waiting for the end user…');
    await eu.page.getByTestId('extension-prompt').waitFor({ timeout: 10_000 });
    expect(await ap.page.getByTestId(`extension-${ticket}`).count()).toBe(0);
    await eu.page.getByRole('button', { name: 'Allow 5 more minutes' }).click();
    await expect.poll(async () => (await brokerView()).expires_at, { timeout: 10_000 }).toBe(before + 5 * 60_000);
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent()).toMatch(/^The session was extended until /);
    expect(await an.page.getByTestId('extend').textContent()).toBe('Extend…');
    await an.page.getByRole('button', { name: 'End session' }).click();
    await an.page.getByRole('button', { name: 'End session now' }).click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
  });
});
