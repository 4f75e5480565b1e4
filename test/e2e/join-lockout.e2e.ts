/**
 * Join-code lockout as people meet it (issue 13): after too many wrong codes the end user reads
 * how long to wait, and the analyst, whose code the end user then types, reads that the end user
 * is locked out and for how long, instead of wondering why nobody arrives. Real broker, Chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { at200, axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: locked out after wrong codes';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  beforeAll(async () => {
    s = await Stack.start();
  });
  afterAll(async () => s?.close());

  it('the end user is told how long to wait; the analyst is told the end user is locked out', { timeout: 120_000 }, async () => {
    const anHost = await s.host('staff');
    const euHost = await s.host('end_user');
    const analyst = await s.user('analyst', 'internal', { displayName: 'Ana Lyst' });
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Outlook asks for the password again and again' });
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();

    const eu = await s.endUserPage(euHost);
    const box = eu.page.getByLabel('Join code');
    for (let i = 0; i < 10; i++) {
      await box.fill(`ZZZZZ-ZZZ${i}0`);
      await eu.page.getByRole('button', { name: 'Continue' }).click();
      await expect.poll(() => eu.page.getByTestId('join-error').textContent()).toContain('not valid');
      await eu.page.getByTestId('join-error').evaluate((e) => e.remove());
    }
    await box.fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => eu.page.getByTestId('join-error').textContent()).toMatch(/^Too many wrong codes were typed\. You can try again in 10 minutes \(at \d{1,2}:\d{2}( [AP]M)?\)\. Meanwhile, check the code with the person helping you: they can see that you are waiting\.$/);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '73-end-user-locked-out');
    expect(await at200(eu.page, '74-end-user-locked-out-200', ['Continue'])).toEqual({ horizontalScroll: false, clipped: [] });

    const warned = an.page.getByTestId('join-locked');
    await warned.waitFor({ timeout: 10_000 });
    expect(await warned.textContent()).toMatch(/^The end user entered this code, but after too many wrong codes the broker makes them wait (09:[0-5]\d|10:00)\. Ask them to wait, then enter it once more\. If this code runs out first, you can get a new one\.$/);
    expect(await an.page.getByTestId('request-state').textContent()).toBe('Approved. Read this code to the end user:');
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '75-analyst-end-user-locked-out');
    expect(await at200(an.page, '76-analyst-end-user-locked-out-200', ['Copy code', 'Cancel request'])).toEqual({ horizontalScroll: false, clipped: [] });
  });
});
