/**
 * Single sign-on seen by people, through the console alone: "Sign in with your organisation" on
 * the staff sign-in screen, the identity provider's own page in Chromium, back in the console
 * signed in; the end user's consent screen names the provider that vouched for the analyst. And
 * the step-up of an SSO analyst whose sign-in there is older than policy allows: the viewer sends
 * them to sign in again (a second tab, so the live session stays), then the end user is asked.
 * The provider is a real one (oidc-provider) in the test process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, freePort, missingTools, requestSession } from '../../kit/e2e-stack.js';
import { startTestIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: single sign-on';
const skip = skipWithout(SUITE, missingTools());

/** At the provider's page (in whichever tab it opened): typed into as a person would. */
async function atProvider(page: Page, username: string, password: string): Promise<void> {
  await page.getByRole('heading', { name: 'Acme Identity' }).waitFor({ timeout: 15_000 });
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
}

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let idp: TestIdp;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    idp = await startTestIdp([
      { sub: 'dana', password: 'dana-pw-1', name: 'Dana Reyes', email: 'dana@acme.example', groups: ['helpdesk'], amr: ['pwd', 'hwk'], acr: 'phr' },
      { sub: 'eli', password: 'eli-pw-1', name: 'Eli Moreau', email: 'eli@acme.example', groups: ['helpdesk'], amr: ['pwd', 'hwk'], acr: 'phr' },
      { sub: 'lee', password: 'lee-pw-1', name: 'Lee Park', email: 'lee@acme.example', groups: ['sales'], amr: ['pwd'] },
    ]);
    // The console's origin is where the broker may send the browser back to: known before the broker starts.
    const port = await freePort();
    s = await Stack.start({
      file: {
        oidc: {
          issuer: idp.issuer,
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
          claims_to_roles: [{ claim: 'groups', value: 'helpdesk', roles: ['analyst'] }],
          organisation: 'Acme IT',
          step_up_acr: 'phr',
          return_origins: [`http://127.0.0.1:${port}`],
        },
      },
      // Control without an approver, so that the step-up is what this is about.
      policy: { auto_approve: { capabilities: ['view', 'chat', 'control'], analyst_kinds: ['internal'] } },
    });
    euHost = await s.host('end_user');
    anHost = await s.host('staff', { port });
  });
  afterAll(async () => {
    await s?.close();
    await idp?.close();
  });

  it('signs in with the organisation from the console, then the consent screen says who vouched for the analyst and how', async () => {
    const an = await s.staffPage(anHost, { width: 1000, height: 760 });
    const host = new URL(idp.issuer).host;
    const sso = an.page.getByTestId('sso-sign-in');
    await sso.waitFor({ timeout: 10_000 });
    expect(await sso.textContent()).toContain(`You sign in at ${host}, your organisation's identity provider, and come back here.`);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '89-staff-sign-in-with-organisation');

    await an.page.getByRole('button', { name: 'Sign in with your organisation' }).click();
    await atProvider(an.page, 'dana', 'dana-pw-1');
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '90-sso-provider-sign-in');
    await an.page.getByRole('button', { name: 'Sign in' }).click();
    // Back in the console, signed in; the provider's answer is no longer in the address.
    await an.page.getByTestId('staff-name').waitFor({ timeout: 15_000 });
    expect(await an.page.getByTestId('staff-name').textContent()).toBe('Dana Reyes');
    expect(new URL(an.page.url()).hash).toBe('#/staff');
    expect(an.page.url()).not.toContain('sso_code');

    await requestSession(an.page, { ticket: 'INC-4410', reason: 'Outlook asks for the password again and again' });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const code = (await codeEl.textContent())!.trim();

    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    const how = eu.page.getByTestId('consent-verification');
    await how.waitFor({ timeout: 15_000 });
    expect(await how.textContent()).toBe(`verified by your organisation's identity provider (${host}); authenticated there just now with password and security key; assurance level "phr"`);
    expect(await eu.page.getByTestId('consent-who').textContent()).toContain('Dana Reyes (dana), Acme IT');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '91-consent-sso-analyst');
    await eu.page.getByRole('button', { name: 'Decline' }).click();
    await an.context.close();
  });

  it('a sign-in at the provider older than policy allows: the viewer sends the analyst to sign in again there, then the end user is asked', async () => {
    const an = await s.staffPage(anHost);
    const host = new URL(idp.issuer).host;
    // Eli signed in at the provider 34 minutes ago (policy allows 10 before control).
    idp.nextLoginTs = Math.floor(Date.now() / 1000) - 34 * 60;
    await an.page.getByRole('button', { name: 'Sign in with your organisation' }).click();
    await atProvider(an.page, 'eli', 'eli-pw-1');
    await an.page.getByRole('button', { name: 'Sign in' }).click();
    await an.page.getByTestId('staff-name').waitFor({ timeout: 15_000 });

    await requestSession(an.page, { ticket: 'INC-4411', reason: 'Printer driver needs reinstalling', control: true, minutes: 15 });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const code = (await codeEl.textContent())!.trim();
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);

    await an.page.getByTestId('request-control').click();
    await an.page.getByTestId('step-up').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('step-up-why').textContent()).toBe(`Sign in again with ${host} to ask for control: your last sign-in was 34 minutes ago.`);
    // The end user was not asked.
    expect(await eu.page.getByTestId('control-prompt').count()).toBe(0);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '92-analyst-sso-step-up');

    // The provider in a second tab (max_age: it asks for the password again); the session stays in the first.
    const [tab] = await Promise.all([an.context.waitForEvent('page'), an.page.getByRole('button', { name: `Sign in again with ${host}` }).click()]);
    await atProvider(tab, 'eli', 'eli-pw-1');
    await shot(tab, '93-sso-step-up-provider');
    await tab.getByRole('button', { name: 'Sign in' }).click();

    const euPrompt = eu.page.getByTestId('control-prompt');
    await euPrompt.waitFor({ timeout: 20_000 });
    expect(await eu.page.getByTestId('prompt-mfa').textContent()).toBe(`Eli Moreau confirmed it is them at their organisation's identity provider (${host}) just now.`);
    expect(await an.page.getByTestId('step-up').count()).toBe(0);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '94-end-user-control-prompt-sso');
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent()).toBe('You have control');

    await s.broker.ctx.audit.flush();
    const types = (await s.broker.ctx.storage.db.selectFrom('audit_events').select('type').where('actor', '=', 'account:eli').execute()).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['auth.login', 'grant.refused', 'auth.step_up', 'grant.requested']));
  });

  it('someone in none of the groups is told so in the console; an answer this tab did not start signs nobody in', async () => {
    const an = await s.staffPage(anHost, { width: 1000, height: 760 });
    await an.page.getByRole('button', { name: 'Sign in with your organisation' }).click();
    await atProvider(an.page, 'lee', 'lee-pw-1');
    await an.page.getByRole('button', { name: 'Sign in' }).click();
    const err = an.page.getByTestId('signin-error');
    await err.waitFor({ timeout: 15_000 });
    expect(await err.textContent()).toBe('Your account at the identity provider is in none of the groups that give a Chaperone role: ask an admin.');
    expect(await an.page.getByTestId('staff-name').count()).toBe(0);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '95-sso-no-role');

    // An address with an answer in it, copied from elsewhere: refused in the page, nothing redeemed.
    const before = await s.broker.ctx.storage.db.selectFrom('oidc_flows').select('state').where('used_at', 'is not', null).execute();
    await an.page.goto(`${anHost.origin}/#sso_state=${'x'.repeat(43)}&sso_code=stolen-code`);
    await an.page.reload();
    await err.waitFor({ timeout: 10_000 });
    expect(await err.textContent()).toBe('That sign-in was not started here, or it is over. Sign in again.');
    expect(new URL(an.page.url()).hash).toBe('#/staff');
    const after = await s.broker.ctx.storage.db.selectFrom('oidc_flows').select('state').where('used_at', 'is not', null).execute();
    expect(after.length).toBe(before.length);
    await an.context.close();
  });
});
