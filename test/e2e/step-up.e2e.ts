/**
 * Step-up before control, through the app's screens: an analyst whose last second factor is older
 * than policy allows asks for control; the viewer asks for a fresh authenticator code before the
 * end user is bothered; with it, the end user's control prompt says how recently the analyst
 * confirmed it was them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { totpStep } from '../../broker/auth/totp.js';
import { freshTotp } from '../../kit/broker.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: step-up before control';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    // Control without an approver, so that this test is about the step-up alone.
    s = await Stack.start({ policy: { auto_approve: { capabilities: ['view', 'chat', 'control'], analyst_kinds: ['internal'] } } });
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  it('a stale second factor: the viewer asks for a fresh code first, then the end user sees how fresh it is', async () => {
    const analyst = await s.user('analyst');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    const signedInAt = Date.now();
    await requestSession(an.page, { ticket, reason: 'Mail client keeps crashing', control: true, minutes: 15 });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const code = (await codeEl.textContent())!.trim();
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);

    // The sign-in's code was 25 minutes ago (the default policy allows 10).
    await s.broker.ctx.storage.db.updateTable('accounts').set({ mfa_at: Date.now() - 25 * 60_000 }).where('username', '=', analyst.user.username).execute();
    await an.page.getByTestId('request-control').click();
    const prompt = an.page.getByTestId('step-up');
    await prompt.waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('step-up-why').textContent()).toContain('Control needs a second factor from the last 10 minutes and your last one was 25 minutes ago');
    // The end user was not asked.
    expect(await eu.page.getByTestId('control-prompt').count()).toBe(0);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '70-analyst-step-up');

    // A code of a step the sign-in did not use (the broker accepts one step ahead).
    while (totpStep(Date.now()) < totpStep(signedInAt) + 1) await new Promise((r) => setTimeout(r, 500));
    await an.page.getByLabel('Authenticator code').fill(freshTotp(analyst.user.totpSecret));
    await an.page.getByRole('button', { name: 'Confirm and ask for control' }).click();
    const euPrompt = eu.page.getByTestId('control-prompt');
    await euPrompt.waitFor({ timeout: 10_000 });
    expect(await eu.page.getByTestId('prompt-mfa').textContent()).toBe(`${analyst.name} confirmed it is them with their authenticator just now.`);
    expect(await an.page.getByTestId('step-up').count()).toBe(0);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '71-end-user-control-prompt-fresh');
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent()).toBe('You have control');
    await s.broker.ctx.audit.flush();
    const types = (await s.broker.ctx.storage.db.selectFrom('audit_events').select('type').where('actor', '=', `account:${analyst.user.username}`).execute()).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['grant.refused', 'auth.step_up', 'grant.requested']));
  });
});
