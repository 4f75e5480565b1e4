/**
 * Issue 13, "wrong blame": a grant left behind by an earlier session (issue 10) made the next
 * session's end screen say the kill switch ended it, with the raw code `other_session`. Here this
 * machine holds a grant of another session when the end user accepts a new one, in real
 * Chromium with the real main-process services of the browser host: the end screen says plainly
 * what happened and what to do, no code or internal state name reaches it, and the analyst is
 * told at once that the session did not start.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: a grant left behind by an earlier session is told as such, not blamed on the kill switch';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  beforeAll(async () => {
    s = await Stack.start();
  });
  afterAll(async () => s?.close());

  it('the end screen says the computer is still closing an earlier session, in plain words', { timeout: 120_000 }, async () => {
    const analyst = await s.user('analyst', 'internal', { displayName: 'Alice Ng' });
    const eu = await s.endUserPage(await s.host('end_user'));
    // An earlier session's grant still held on this machine (what a teardown that never finished leaves).
    const earlier = crypto.randomUUID();
    const held = await eu.page.evaluate(async (sid) => {
      const b = (window as unknown as { chaperone: { session: { open(a: unknown): Promise<unknown> }; grants: { acquire(a: unknown): Promise<{ ok: boolean }> } } }).chaperone;
      await b.session.open({ sessionId: sid, expiresAt: Date.now() + 10 * 60_000 });
      return (await b.grants.acquire({ sessionId: sid, kind: 'capture' })).ok;
    }, earlier);
    expect(held).toBe(true);

    const an = await s.staffPage(await s.host('staff'));
    await signIn(an.page, analyst);
    const ticket = `INC-${Date.now() % 100000}`;
    await requestSession(an.page, { ticket, reason: 'Teams will not start' });
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();

    const end = eu.page.getByTestId('end-screen');
    await end.waitFor({ timeout: 20_000 });
    expect(await end.getAttribute('data-reason')).toBe('capture_refused');
    const text = (await end.textContent())!;
    expect(text).toContain('Your screen could not be shared, so the session did not start.');
    expect(text.split('Nothing was shared').length - 1).toBe(1);
    expect(text).toContain('This computer is still closing an earlier support session. Wait a moment, then ask the person helping you for a new code.');
    expect(text).not.toMatch(/kill switch|other_session|ended\(|capture_refused|session_ended/);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '94-end-user-earlier-session-still-closing', { window: true });

    // The broker heard it at once: the analyst is not left waiting on a session that shows nothing.
    // Their page says so on the session's end screen, or on the request's own page when the end
    // came before it had opened the session's view (both happen, depending on who is quicker).
    const analystEnd = an.page.getByTestId('end-screen').or(an.page.getByTestId('request-state'));
    await expect.poll(async () => (await analystEnd.first().textContent().catch(() => '')) ?? '', { timeout: 10_000 }).toContain("The end user's computer could not share its screen");
    if ((await analystEnd.first().getAttribute('data-testid')) === 'end-screen') expect(await analystEnd.first().getAttribute('data-reason')).toBe('capture_refused');
    const row = (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)!;
    expect([row.state, row.end_reason]).toEqual(['ended', 'capture_refused']);
  });
});
