/**
 * Single sign-on seen by people: the identity provider's own sign-in page in Chromium, and the
 * end user's consent screen naming the provider that vouched for the analyst, when and how they
 * authenticated there. The provider is a real one (oidc-provider) in the test process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { ApiClient } from '../../kit/api.js';
import { DeviceKey } from '../../kit/device.js';
import { Stack, missingTools } from '../../kit/e2e-stack.js';
import { startTestIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: single sign-on';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let idp: TestIdp;
  let euHost: BrowserHost;
  beforeAll(async () => {
    idp = await startTestIdp([{ sub: 'dana', password: 'dana-pw-1', name: 'Dana Reyes', email: 'dana@acme.example', groups: ['helpdesk'], amr: ['pwd', 'hwk'], acr: 'phr' }]);
    s = await Stack.start({
      file: {
        oidc: {
          issuer: idp.issuer,
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
          claims_to_roles: [{ claim: 'groups', value: 'helpdesk', roles: ['analyst'] }],
          organisation: 'Acme IT',
        },
      },
      policy: { auto_approve: { capabilities: ['view', 'chat'], analyst_kinds: ['internal'] } },
    });
    euHost = await s.host('end_user');
  });
  afterAll(async () => {
    await s?.close();
    await idp?.close();
  });

  it("the provider's sign-in page in Chromium, then the consent screen says who vouched for the analyst and how", async () => {
    const api = new ApiClient(s.broker.url, new DeviceKey());
    // In Chromium: the provider's page, typed into as a person would; it lands back at the broker.
    const start = await api.post('/api/v1/auth/oidc/start', { return_to: `${s.broker.url}/healthz` });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const ctx = await s.headless.newContext({ viewport: { width: 900, height: 640 } });
    const page = await ctx.newPage();
    await page.goto(start.body.authorization_url);
    await page.getByRole('heading', { name: 'Acme Identity' }).waitFor();
    await page.getByLabel('Username').fill('dana');
    await page.getByLabel('Password').fill('dana-pw-1');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '90-sso-provider-sign-in');
    await Promise.all([page.waitForURL(/\/healthz#sso_state=/, { timeout: 15_000 }), page.getByRole('button', { name: 'Sign in' }).click()]);
    const f = new URLSearchParams(new URL(page.url()).hash.slice(1));
    await ctx.close();
    const signedIn = await api.post('/api/v1/auth/oidc/finish', { state: f.get('sso_state'), code: f.get('sso_code'), iss: f.get('sso_iss') });
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    api.accessToken = signedIn.body.access_token;
    expect(signedIn.body.account).toMatchObject({ display_name: 'Dana Reyes', roles: ['analyst'] });

    const req = await api.post('/api/v1/sessions', { ticket: 'INC-4410', reason: 'Outlook asks for the password again and again', capabilities: ['view', 'chat'], duration_minutes: 20 });
    expect(req.status, JSON.stringify(req.body)).toBe(200);
    const code = await api.post(`/api/v1/sessions/${req.body.id}/code`, {});
    expect(code.status, JSON.stringify(code.body)).toBe(200);

    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code.body.code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    const how = eu.page.getByTestId('consent-verification');
    await how.waitFor({ timeout: 15_000 });
    const host = new URL(idp.issuer).host;
    expect(await how.textContent()).toBe(`verified by your organisation's identity provider (${host}); authenticated there just now with password and security key; assurance level "phr"`);
    expect(await eu.page.getByTestId('consent-who').textContent()).toContain('Dana Reyes (dana), Acme IT');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '91-consent-sso-analyst');
  });

});
