/**
 * A join code that ran out before the end user typed it (issue 13): the analyst gets a new one
 * from the ended request, without a new approval, while the approval still holds; the old code
 * is refused on the end user's screen and the new one reaches the consent screen. Real broker,
 * real Chromium; the code lives one minute here so the test waits for it in real time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { at200, axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: a new code for an expired one';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  beforeAll(async () => {
    s = await Stack.start({ policy: { code_ttl_minutes: 1, approval_window_minutes: 15 } });
  });
  afterAll(async () => s?.close());

  it('the analyst gets a new code under the same approval; the old one stays dead', { timeout: 180_000 }, async () => {
    const anHost = await s.host('staff');
    const euHost = await s.host('end_user');
    const analyst = await s.user('analyst', 'internal', { displayName: 'Ana Lyst' });
    const approver = await s.user('approver', 'internal', { displayName: 'Bob Ode' });
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Printer driver will not install', control: true });
    const ap = await s.staffPage(anHost);
    await signIn(ap.page, approver);
    await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const oldCode = (await an.page.getByTestId('join-code').textContent())!.trim();

    // The minute passes with nobody typing the code.
    await expect.poll(() => an.page.getByTestId('request-state').textContent(), { timeout: 90_000, interval: 1000 }).toBe('The join code expired before the end user entered it.');
    const offer = an.page.getByTestId('reissue');
    await offer.waitFor();
    expect(await offer.textContent()).toMatch(/The approval still holds for 1\d:\d\d: you can give the end user a new code without asking again\. The old code stays dead\./);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '70-analyst-code-expired-reissue');
    const zoomed = await at200(an.page, '71-analyst-code-expired-reissue-200', ['Get a new code', 'New request']);
    expect(zoomed).toEqual({ horizontalScroll: false, clipped: [] });

    await offer.getByRole('button', { name: 'Get a new code' }).click();
    await expect.poll(() => an.page.getByTestId('join-code').textContent(), { timeout: 10_000 }).not.toBe(oldCode);
    const newCode = (await an.page.getByTestId('join-code').textContent())!.trim();
    expect(newCode).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    expect(await an.page.getByTestId('request-state').textContent()).toBe('Approved. Read this code to the end user:');
    // No second approval: the approver's queue stays empty.
    await expect.poll(() => ap.page.getByTestId(`pending-${ticket}`).count()).toBe(0);
    await shot(an.page, '72-analyst-reissued-code');

    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(oldCode);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => eu.page.getByTestId('join-error').textContent()).toContain('not valid');
    await eu.page.getByLabel('Join code').fill(newCode);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => eu.page.getByTestId('consent-ticket').textContent(), { timeout: 10_000 }).toBe(ticket);
    await expect.poll(() => an.page.getByTestId('request-state').textContent()).toBe('The end user entered the code and is reading the consent screen.');
  });
});
