/**
 * A session running out of time, through the app's screens: the broker's 5-minute and 1-minute
 * warnings reach both sides, the countdown follows the broker's clock, and at the end both sides
 * show the end and every local grant is gone. The broker's clock is moved forward (in steps under
 * the heartbeat timeout, so the end user's heartbeats keep the session alive) instead of waiting
 * a quarter of an hour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from '../helpers/clock.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: expiry with its warnings';
const skip = skipWithout(SUITE, missingTools());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let clock: TestClock;
  beforeAll(async () => {
    clock = new TestClock();
    s = await Stack.start({ brokerClock: clock, policy: { heartbeat_timeout_seconds: 300 } });
  });
  afterAll(async () => {
    clock?.dispose();
    await s?.close();
  });

  /** Moves the broker's time on, then gives the end user's client time to send a heartbeat. */
  async function advance(ms: number): Promise<void> {
    await clock.advance(ms);
    await sleep(6000);
  }

  it('warns at 5 minutes and at 1 minute on both sides, then ends as expired', async () => {
    const euHost = await s.host('end_user');
    const anHost = await s.host('staff');
    const analyst = await s.user('analyst');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Check the mail client settings', minutes: 15 });
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();

    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);

    // 10 minutes on: 5 minutes left, both sides are told, the countdown follows the broker.
    await advance(4 * 60_000);
    await advance(4 * 60_000);
    expect(await eu.page.getByTestId('expiry-warning').count()).toBe(0);
    await clock.advance(2 * 60_000 + 1000);
    await eu.page.getByTestId('expiry-warning').waitFor({ timeout: 5000 });
    expect(await eu.page.getByTestId('expiry-warning').textContent()).toBe('This session ends in about 5 minutes.');
    await expect.poll(() => an.page.getByTestId('viewer-warning').textContent()).toBe('The session ends in about 5 minutes.');
    await expect.poll(() => eu.page.getByTestId('banner-countdown').textContent()).toMatch(/^0[45]:\d\d$/);
    await expect.poll(() => an.page.getByTestId('viewer-countdown').textContent()).toMatch(/^0[45]:\d\d$/);
    await shot(eu.page, '30-end-user-warning-5-min');
    await sleep(6000);

    // One minute left: the banner turns urgent.
    await clock.advance(4 * 60_000 - 1000);
    await expect.poll(() => eu.page.getByTestId('expiry-warning').textContent(), { timeout: 5000 }).toBe('This session ends in 60 seconds.');
    await expect.poll(() => an.page.getByTestId('viewer-warning').textContent()).toBe('The session ends in 60 seconds.');
    await expect.poll(() => eu.page.getByTestId('banner-countdown').textContent()).toMatch(/^00:[0-5]\d|^01:00$/);
    expect(await eu.page.getByTestId('banner').getAttribute('class')).toContain('banner-urgent');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '31-end-user-warning-1-min');
    await shot(an.page, '32-analyst-warning-1-min');
    await sleep(6000);

    // Time is up.
    await clock.advance(60_000);
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await eu.page.getByTestId('end-reason').textContent()).toBe('The session reached the end of its time.');
    expect(await eu.page.getByTestId('end-revoked').textContent()).toContain('screen sharing');
    await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('end-reason').textContent()).toBe('The session reached the end of its time.');
    await shot(eu.page, '33-end-user-expired');
    const view = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    expect(view).toMatchObject({ state: 'ended', end_reason: 'expired' });
    expect(await euHost.services.handlers['grants.list']()).toEqual([]);
  }, 180_000);
});
