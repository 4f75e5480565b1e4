/**
 * A newcomer's first sign-in in the app, in real Chromium against the real broker: the one-time
 * password the broker printed, then a password of their own (the rules are on the screen before
 * anything is typed), then the authenticator app from a QR code drawn in the page (the key also
 * as text), a code to confirm it, and the console, where the analyst asks for a session; an
 * approver approves it in the app, the end user joins with the code, and the analyst sees the
 * end user's real screen.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { totpAt, totpStep } from '../../broker/auth/totp.js';
import { H, ROOT_POINT, Stack, W, missingTools, requestSession, signIn, xsetroot } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot, viewerPixel } from './page-checks.js';

const SUITE = 'the app end to end: first sign-in from the printed one-time password';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let host: BrowserHost;
  let euHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start();
    host = await s.host('staff');
    euHost = await s.host('end_user');
  });
  afterAll(async () => s?.close());

  it('the printed admin: one-time password, own password, authenticator enrolled from the QR code, console', async () => {
    const printed = s.broker.firstRun!;
    expect(printed.username).toBe('admin');
    const { page } = await s.staffPage(host);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(printed.one_time_password);
    // No code yet: a newcomer has not set up an authenticator app.
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Choose your password' }).waitFor();
    const rules = page.getByTestId('password-rules');
    // The rules are there before anything is typed.
    expect(await rules.textContent()).toContain('At least 12 characters');
    expect(await rules.textContent()).toContain('Not the one-time password you were given');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '50-first-sign-in-password');
    // A short one: the length rule is not met, the others are; Continue says so and stays.
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('The same password again').fill('short');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByTestId('setpw-problem').waitFor();
    expect(await page.locator('[data-testid="password-rules"] li[data-met="true"]').count()).toBe(3);
    await shot(page, '51-first-sign-in-password-rule-unmet');
    // The one-time password again is refused on the screen, before the broker is asked.
    await page.getByLabel('New password', { exact: true }).fill(printed.one_time_password);
    await page.getByLabel('The same password again').fill(printed.one_time_password);
    await page.getByRole('button', { name: 'Continue' }).click();
    expect(await page.getByRole('heading', { name: 'Choose your password' }).count()).toBe(1);
    const mine = 'my own admin passphrase 2026';
    await page.getByLabel('New password', { exact: true }).fill(mine);
    await page.getByLabel('The same password again').fill(mine);
    expect(await page.locator('[data-testid="password-rules"] li[data-met="true"]').count()).toBe(4);
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    const qr = page.getByTestId('totp-qr');
    expect(await qr.getAttribute('aria-label')).toContain('account admin');
    const box = await qr.boundingBox();
    expect(box!.width).toBeGreaterThanOrEqual(150);
    // The key as text, the same the broker printed, in groups of four.
    const shown = (await page.getByTestId('totp-secret').textContent())!;
    expect(shown.replace(/ /g, '')).toBe(printed.totp_secret);
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '52-first-sign-in-authenticator');

    // A wrong code is said and nothing changes; the right one (from the key on the screen) signs in.
    await page.getByLabel('Code from the app').fill('000000');
    await page.getByRole('button', { name: 'Confirm and sign in' }).click();
    await expect.poll(() => page.getByTestId('first-sign-in-error').textContent()).toContain('That code is not right');
    await shot(page, '53-first-sign-in-wrong-code');
    await page.getByLabel('Code from the app').fill(totpAt(shown.replace(/ /g, ''), totpStep(Date.now())));
    await page.getByRole('button', { name: 'Confirm and sign in' }).click();
    await page.getByTestId('staff-name').waitFor();
    expect(await page.getByTestId('staff-name').textContent()).toBe('Administrator');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '54-first-sign-in-console');

    const row = await s.broker.ctx.storage.db.selectFrom('accounts').select(['must_change_password', 'totp_last_step']).where('username', '=', 'admin').executeTakeFirstOrThrow();
    expect(Number(row.must_change_password)).toBe(0);
    expect(Number(row.totp_last_step)).toBeGreaterThan(0);
  });

  it('an analyst from their printed one-time password to a live session: requested, approved, joined, the picture shows', async () => {
    // What `chaperone-broker user add` prints.
    const created = await s.broker.ctx.accounts.create({ username: 'nadia', display_name: 'Nadia Okafor', organisation: 'Acme IT', kind: 'internal', roles: ['analyst'] }, 'account:admin');
    const { page } = await s.staffPage(host);
    await page.getByLabel('Username').fill('nadia');
    await page.getByLabel('Password').fill(created.one_time_password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Choose your password' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill('nadia picks a long one');
    await page.getByLabel('The same password again').fill('nadia picks a long one');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    const key = (await page.getByTestId('totp-secret').textContent())!.replace(/ /g, '');
    await page.getByLabel('Code from the app').fill(totpAt(key, totpStep(Date.now())));
    await page.getByRole('button', { name: 'Confirm and sign in' }).click();
    await page.getByTestId('staff-name').waitFor();
    const ticket = `INC-${Date.now() % 100000}`;
    await requestSession(page, { ticket, reason: 'First day: check the printer', control: true, minutes: 15 });
    await expect.poll(() => page.getByTestId('request-state').textContent()).toContain('Waiting for an approver');
    await shot(page, '55-first-sign-in-analyst-requested');
    const view = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket);
    expect(view?.analyst.username).toBe('nadia');

    // An approver, in their own app, approves what Nadia asked for.
    const approver = await s.user('approver');
    const ap = await s.staffPage(host);
    await signIn(ap.page, approver);
    const card = ap.page.getByTestId(`pending-${ticket}`);
    await card.waitFor();
    await expect.poll(() => card.textContent()).toContain('Nadia Okafor');
    await card.getByRole('button', { name: `Approve ${ticket}` }).click();

    // Nadia reads the code out; the end user types it and accepts.
    const codeEl = page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const code = (await codeEl.textContent())!.trim();
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('heading', { name: 'Nadia Okafor wants to see your screen' }).waitFor();
    expect(await eu.page.getByTestId('consent-who').textContent()).toContain('Acme IT');
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);
    expect(await page.getByTestId('viewer-sas').textContent()).toBe(await eu.page.getByTestId('banner-sas').textContent());

    // The picture is the end user's real screen: its background turns green and Nadia sees green.
    await xsetroot(s.xvfb.display, '#00c000');
    const near = (p: [number, number, number] | null) => p !== null && Math.abs(p[0] - 0) < 40 && Math.abs(p[1] - 192) < 40 && Math.abs(p[2] - 0) < 40;
    await expect.poll(() => viewerPixel(page, ROOT_POINT.x / W, ROOT_POINT.y / H).then(near), { timeout: 15_000 }).toBe(true);
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '56-first-sign-in-analyst-live');
  });
});
