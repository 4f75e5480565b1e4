/**
 * Both sides agree about control, whenever it is asked for and however many sessions one analyst
 * page has held: the end user's screen and the analyst's viewer both follow the broker's
 * grant.changed and nothing else. Control is asked for about 2 s after the end user accepts, as
 * outside testers did when they saw the two sides disagree (the analyst's viewer kept the lock of
 * the previous session); three sessions in a row in the same analyst page.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { shot } from './page-checks.js';

const SUITE = 'the app end to end: both sides agree about control, session after session';
const skip = skipWithout(SUITE, missingTools());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What each side says about control right now. */
async function sides(an: Page, eu: Page): Promise<{ analyst: string | null; canRequest: boolean; canGiveBack: boolean; endUser: 'on' | 'off' | '?' }> {
  const req = an.getByTestId('request-control');
  return {
    analyst: await an.getByTestId('viewer-state').textContent(),
    canRequest: (await req.count()) > 0 && (await req.isEnabled()),
    canGiveBack: (await an.getByRole('button', { name: 'Give control back' }).count()) > 0,
    endUser: (await eu.getByTestId('control-on').count()) > 0 ? 'on' : (await eu.getByTestId('control-off').count()) > 0 ? 'off' : '?',
  };
}
const IN_CONTROL = { analyst: 'You have control', canRequest: false, canGiveBack: true, endUser: 'on' };
const VIEW_ONLY = { analyst: 'View only', canRequest: true, canGiveBack: false, endUser: 'off' };

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    // Control approved by policy, so each round is a code, a consent and a request.
    s = await Stack.start({ policy: { auto_approve: { capabilities: ['view', 'chat', 'control'], analyst_kinds: ['internal'] } } });
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  it('control asked about 2 s after connecting, three sessions in a row in one analyst page: the two sides agree every time', async () => {
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    for (const round of [1, 2, 3]) {
      await requestSession(an.page, { ticket: `INC-${round}${Date.now() % 10000}`, reason: 'Outlook profile repair', control: true });
      const codeEl = an.page.getByTestId('join-code');
      await codeEl.waitFor({ timeout: 10_000 });
      const eu = await s.endUserPage(euHost);
      await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
      await eu.page.getByRole('button', { name: 'Continue' }).click();
      await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
      const accepted = Date.now();
      const request = an.page.getByTestId('request-control');
      await request.and(an.page.locator(':enabled')).waitFor({ timeout: 20_000 });
      // Nothing of the previous session is left on either side before anything is asked.
      expect(await sides(an.page, eu.page)).toEqual(VIEW_ONLY);
      await sleep(Math.max(0, 2000 - (Date.now() - accepted)));
      await request.click();
      await eu.page.getByTestId('control-prompt').waitFor();
      // The first control of each session comes with the code check.
      await expect.poll(() => eu.page.getByTestId('prompt-sas').textContent()).toBe(await an.page.getByTestId('viewer-sas').textContent());
      await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
      await expect.poll(() => sides(an.page, eu.page), { timeout: 10_000 }).toEqual(IN_CONTROL);
      expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind).sort()).toEqual(['capture', 'control']);
      // And it stays so: nothing flips back a moment later.
      await sleep(1000);
      expect(await sides(an.page, eu.page)).toEqual(IN_CONTROL);
      if (round === 3) {
        await shot(an.page, '14-analyst-in-control-third-session');
        await shot(eu.page, '14b-end-user-control-third-session');
      }
      // Taken back: both sides follow the broker again.
      await eu.page.getByTestId('take-back').click();
      await expect.poll(() => sides(an.page, eu.page), { timeout: 10_000 }).toEqual(VIEW_ONLY);
      await eu.page.getByTestId('stop').click();
      await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
      await an.page.getByRole('button', { name: 'New request' }).click();
      await eu.browser.close();
    }
    await an.context.close();
  });
});
