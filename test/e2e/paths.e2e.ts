/**
 * The other ways a session goes, through the app's screens in real Chromium: the end user
 * declines, a wrong code, a request nobody approved (then rejected), the control prompt timing
 * out, and the kill switch.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn, type Person } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: decline, wrong code, no approval, no answer, kill switch';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  let apHost: BrowserHost;
  beforeAll(async () => {
    // A short control prompt, so the test does not sit through the default 30 s: the end user's
    // machine closes its prompt after 5 s, the broker times the request out 2 s later.
    s = await Stack.start({ policy: { control_prompt_seconds: 5 } });
    euHost = await s.host('end_user', { policy: { controlPromptSeconds: 5 } });
    anHost = await s.host('staff');
    apHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  const ticketOf = () => `INC-${Math.floor(Math.random() * 1e6)}`;

  /** Signs the analyst in, requests, has the approver approve (their page stays open), returns the code. */
  async function codeFor(an: Page, analyst: Person, ticket: string, o: { control?: boolean; approver?: Person } = {}): Promise<{ code: string; approverPage: Page | null }> {
    await signIn(an, analyst);
    await requestSession(an, { ticket, reason: 'VPN client keeps disconnecting', control: o.control });
    let approverPage: Page | null = null;
    if (o.approver) {
      approverPage = (await s.staffPage(apHost)).page;
      await signIn(approverPage, o.approver);
      await approverPage.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
      await approverPage.getByTestId('approvals-message').waitFor();
    }
    const el = an.getByTestId('join-code');
    await el.waitFor({ timeout: 10_000 });
    return { code: (await el.textContent())!.trim(), approverPage };
  }

  async function session(ticket: string) {
    return (await s.broker.ctx.sessions.list({ limit: 50 })).find((x) => x.ticket === ticket)!;
  }

  it('the end user declines: nothing is shared, both sides say so, the broker ends it as declined', async () => {
    const analyst = await s.user('analyst');
    const ticket = ticketOf();
    const an = await s.staffPage(anHost);
    // View and chat by an internal analyst: approved by policy, no approver needed.
    const { code } = await codeFor(an.page, analyst, ticket);
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Decline' }).waitFor();
    // Accept and Decline are equally easy: same size, both plain buttons, neither focused by default.
    const [a, d] = await Promise.all([eu.page.getByRole('button', { name: 'Accept and share my screen' }).boundingBox(), eu.page.getByRole('button', { name: 'Decline' }).boundingBox()]);
    expect(Math.abs(a!.width - d!.width)).toBeLessThan(2);
    expect(Math.abs(a!.height - d!.height)).toBeLessThan(2);
    await eu.page.getByRole('button', { name: 'Decline' }).click();
    await eu.page.getByTestId('end-screen').waitFor();
    expect(await eu.page.getByRole('heading', { level: 1 }).textContent()).toBe('You declined the session');
    expect(await eu.page.getByTestId('end-revoked').textContent()).toContain('Nothing was shared');
    await shot(eu.page, '20-end-user-declined');
    await expect.poll(() => an.page.getByTestId('request-state').textContent(), { timeout: 10_000 }).toBe('The end user declined the session.');
    await shot(an.page, '21-analyst-declined');
    expect(await session(ticket)).toMatchObject({ state: 'ended', end_reason: 'declined' });
    expect(await euHost.services.handlers['grants.list']()).toEqual([]);
    await eu.browser.close();
    await an.context.close();
  });

  it('a wrong code and a malformed code are refused with a plain message; a link fills the code in', async () => {
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill('hello');
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    expect(await eu.page.getByTestId('join-error').textContent()).toContain('does not look like a join code');
    await eu.page.getByLabel('Join code').fill('7KQ2M-XW9PC');
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => eu.page.getByTestId('join-error').textContent().catch(() => '')).toContain('This code is not valid');
    expect(await eu.page.getByLabel('Join code').getAttribute('aria-invalid')).toBe('true');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '22-end-user-wrong-code');
    // A chaperone://join link pasted in works the same as the code.
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    const { code } = await codeFor(an.page, analyst, ticketOf());
    await eu.page.getByLabel('Join code').fill(`chaperone://join/${code}`);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Decline' }).waitFor();
    await eu.page.getByRole('button', { name: 'Decline' }).click();
    await eu.page.getByTestId('end-screen').waitFor();
    await s.broker.ctx.audit.flush();
    const failures = await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type']).where('type', '=', 'join.redeem_failed').execute();
    expect(failures.length).toBeGreaterThanOrEqual(1);
    await eu.browser.close();
    await an.context.close();
  });

  it('a request nobody approved gives no code; the approver rejects it with a reason and the analyst sees that', async () => {
    const analyst = await s.user('analyst');
    const approver = await s.user('approver', 'internal', { displayName: 'Rae Jecter' });
    const ticket = ticketOf();
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Install the accounting update', control: true });
    await expect.poll(() => an.page.getByTestId('request-state').textContent()).toBe('Waiting for an approver.');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await an.page.getByTestId('join-code').count()).toBe(0);
    expect(await session(ticket)).toMatchObject({ state: 'awaiting_approval' });

    const ap = await s.staffPage(apHost);
    await signIn(ap.page, approver);
    const card = ap.page.getByTestId(`pending-${ticket}`);
    await card.getByRole('button', { name: `Reject ${ticket}…` }).click();
    await card.getByLabel('Reason for rejecting').fill('Needs a change ticket first');
    await shot(ap.page, '23-approver-rejecting');
    expect(await axeSerious(ap.page)).toEqual([]);
    await card.getByRole('button', { name: 'Reject', exact: true }).click();
    await ap.page.getByTestId('approvals-message').waitFor();
    await expect.poll(() => an.page.getByTestId('request-state').textContent(), { timeout: 10_000 }).toBe('The request was rejected by an approver.');
    expect(await an.page.getByTestId('rejection-reason').textContent()).toBe('Rae Jecter wrote: Needs a change ticket first');
    await shot(an.page, '24-analyst-rejected');
    expect(await session(ticket)).toMatchObject({ state: 'ended', end_reason: 'rejected' });
    await an.context.close();
    await ap.context.close();
  });

  it('no answer to a control request denies it after the prompt time; the kill switch ends everything', async () => {
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const ticket = ticketOf();
    const an = await s.staffPage(anHost);
    const { code, approverPage } = await codeFor(an.page, analyst, ticket, { control: true, approver });
    const eu = await s.endUserPage(euHost, `#/join/${code}`);
    // The link filled the code in.
    expect(await eu.page.getByLabel('Join code').inputValue()).toBe(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);

    // The analyst asks; nobody answers; it is denied by itself, and both sides say why.
    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    await expect.poll(() => eu.page.getByTestId('control-prompt').count(), { timeout: 10_000 }).toBe(0);
    // The policy's 5 s, not the default's 30.
    expect(await eu.page.getByTestId('notice').textContent()).toContain('denied because nobody answered within 5 seconds.');
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent(), { timeout: 10_000 }).toBe('The end user did not answer in time, so control was not allowed.');
    expect(await an.page.getByTestId('viewer-state').textContent()).toBe('View only');
    expect(await an.page.getByTestId('request-control').isEnabled()).toBe(true);
    await shot(an.page, '25-analyst-control-denied');

    // The approver who approved it pulls the kill switch from the live list.
    const ap = approverPage!;
    const live = ap.getByTestId(`active-${ticket}`);
    await live.waitFor({ timeout: 10_000 });
    await shot(ap, '26-approver-live-sessions');
    await live.getByRole('button', { name: `Kill switch: end ${ticket} now` }).click();
    // The kill switch asks first (with an optional reason); no reason given here.
    await ap.getByRole('button', { name: `End ${ticket} now`, exact: true }).click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await eu.page.getByTestId('end-reason').textContent()).toBe('An administrator or approver ended the session with the kill switch.');
    expect(await eu.page.getByTestId('end-revoked').textContent()).toContain('screen sharing');
    await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('end-reason').textContent()).toBe('An administrator or approver ended the session with the kill switch.');
    await shot(eu.page, '27-end-user-killed');
    await shot(an.page, '28-analyst-killed');
    expect(await session(ticket)).toMatchObject({ state: 'ended', end_reason: 'revoked' });
    expect(await euHost.services.handlers['grants.list']()).toEqual([]);
    // The end user's page reported what it switched off, signed by the device key, after the end.
    const reports = async () => {
      await s.broker.ctx.audit.flush();
      return s.broker.ctx.storage.db.selectFrom('audit_events').select(['meta']).where('session_id', '=', (await session(ticket)).id).where('type', '=', 'client.teardown_report').execute();
    };
    await expect.poll(async () => (await reports()).length, { timeout: 5000 }).toBe(1);
    expect(JSON.parse((await reports())[0]!.meta)).toMatchObject({ revoked: ['capture'], receipt: expect.stringMatching(/^ey/) });
    // Main refuses grants for the ended session even if something asked.
    expect(await euHost.services.handlers['grants.acquire']({ sessionId: (await session(ticket)).id, kind: 'control' })).toMatchObject({ ok: false });
    await eu.browser.close();
    await an.context.close();
    await ap.context().close();
  });
});
