/**
 * Passkeys through the app's screens, with Chromium's virtual authenticator (CDP WebAuthn) behind
 * the page's real WebAuthn: an analyst adds one under Passkeys, names it, and later confirms with
 * it instead of a code when control needs a fresh second factor; the end user is asked only then.
 * The staff page is reached as localhost (a relying party id cannot be an IP address).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, freePort, missingTools, signIn, requestSession } from '../../kit/e2e-stack.js';
import { addVirtualAuthenticator } from '../../kit/virtual-authenticator.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: passkeys with the virtual authenticator';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    const port = await freePort();
    s = await Stack.start({
      policy: { auto_approve: { capabilities: ['view', 'chat', 'control'], analyst_kinds: ['internal'] }, passkey_required_roles: ['analyst'] },
      file: { webauthn: { rp_id: 'localhost', origins: [`http://localhost:${port}`] } },
    });
    euHost = await s.host('end_user');
    anHost = await s.host('staff', { hostname: 'localhost', port });
  });
  afterAll(async () => s?.close());

  it('an analyst adds a passkey, then confirms with it before control; the end user is asked after', async () => {
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    await addVirtualAuthenticator(an.page);
    await signIn(an.page, analyst);
    const section = an.page.getByTestId('passkeys');
    await section.getByTestId('passkeys-none').waitFor();
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '80-passkeys-none');

    await an.page.getByLabel('Name for a new passkey').fill('Work laptop');
    await an.page.getByRole('button', { name: 'Add a passkey' }).click();
    await expect.poll(() => an.page.getByTestId('passkeys-note').textContent(), { timeout: 15_000 }).toContain('Added Work laptop');
    expect(await an.page.getByTestId('passkey-list').locator('tbody tr').count()).toBe(1);
    expect(await an.page.getByTestId('passkey-list').textContent()).toContain('Not yet');
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '81-passkeys-added');

    const ticket = `INC-${Date.now() % 100000}`;
    await requestSession(an.page, { ticket, reason: 'Mail client keeps crashing', control: true, minutes: 15 });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const code = (await codeEl.textContent())!.trim();
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);

    // The sign-in's code was 25 minutes ago.
    await s.broker.ctx.storage.db.updateTable('accounts').set({ mfa_at: Date.now() - 25 * 60_000 }).where('username', '=', analyst.user.username).execute();
    await an.page.getByTestId('request-control').click();
    await an.page.getByTestId('step-up').waitFor({ timeout: 10_000 });
    expect(await an.page.getByRole('button', { name: 'Use a passkey instead' }).count()).toBe(1);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '82-step-up-with-passkey');
    // Policy asks analysts for a passkey: a code is refused, and the screen says why.
    await an.page.getByLabel('Authenticator code').fill('123456');
    await an.page.getByRole('button', { name: 'Confirm and ask for control' }).click();
    await expect.poll(() => an.page.getByTestId('step-up-error').textContent()).toContain('passkey');
    expect(await eu.page.getByTestId('control-prompt').count()).toBe(0);

    await an.page.getByRole('button', { name: 'Use a passkey instead' }).click();
    const euPrompt = eu.page.getByTestId('control-prompt');
    await euPrompt.waitFor({ timeout: 15_000 });
    expect(await eu.page.getByTestId('prompt-mfa').textContent()).toContain('just now');
    expect(await an.page.getByTestId('step-up').count()).toBe(0);
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent()).toBe('You have control');

    // Later, on the same computer: signing in with the password and the passkey, no code.
    await an.page.getByRole('button', { name: 'End session' }).click();
    await an.page.getByRole('button', { name: 'End session now' }).click();
    await expect.poll(() => an.page.getByTestId('request-control').count(), { timeout: 15_000 }).toBe(0);
    await an.page.getByRole('button', { name: 'Sign out' }).click();
    await an.page.getByRole('heading', { name: 'Support staff sign in' }).waitFor();
    await an.page.getByLabel('Username').fill(analyst.user.username);
    await an.page.getByLabel('Password').fill(analyst.user.password);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '83-sign-in-with-passkey');
    await an.page.getByRole('button', { name: 'Use a passkey instead of a code' }).click();
    await an.page.getByTestId('staff-name').waitFor({ timeout: 15_000 });

    await s.broker.ctx.audit.flush();
    const events = await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type', 'meta']).where('actor', '=', `account:${analyst.user.username}`).execute();
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['auth.passkey_added', 'auth.step_up', 'grant.requested']));
    expect(events.filter((e) => e.type === 'auth.step_up').map((e) => JSON.parse(String(e.meta)).factor)).toEqual(['passkey']);
    expect(events.filter((e) => e.type === 'auth.login').map((e) => JSON.parse(String(e.meta)).factor)).toEqual(['totp', 'passkey']);
  });
});
