/**
 * The admin's screens in the console, in real Chromium against the real broker: from the printed
 * admin's one-time password to a person added, their roles and organisation changed, a new
 * one-time password, a disabled account; the audit log (filter, verify) naming the admin for each
 * change; webhook deliveries; a key rotation. The person added signs in with what the screen
 * showed and asks for a session: a newcomer needs nothing but the app and the printed secrets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { firstSignIn } from './first-sign-in-steps.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: the admin screens';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let host: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start();
    host = await s.host('staff');
  });
  afterAll(async () => s?.close());

  it('people, audit log, deliveries and keys, each change audited with the admin who made it', async () => {
    const printed = s.broker.firstRun!;
    const { page } = await s.staffPage(host);
    await firstSignIn(page, 'admin', printed.one_time_password, 'the admin passphrase here');
    await page.getByRole('heading', { name: 'Administration' }).waitFor();

    // Add an analyst: the one-time password is shown once, on the screen.
    await page.getByLabel('Username').fill('omar');
    await page.getByLabel('Full name').fill('Omar Haddad');
    await page.getByLabel('Organisation', { exact: true }).fill('Acme IT');
    await page.getByRole('button', { name: 'Add person' }).click();
    const otp = (await page.getByTestId('one-time-password').textContent())!;
    expect(otp).toMatch(/^[a-z0-9]{5}(-[a-z0-9]{5}){3}$/);
    expect(await page.getByTestId('admin-message').textContent()).toContain('Omar Haddad can sign in now');
    const card = page.getByTestId('user-omar');
    await card.waitFor();
    expect(await card.textContent()).toContain('has not signed in yet');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '60-admin-people-added');

    // The person signs in with exactly that and asks for a session.
    const other = await s.staffPage(host);
    await firstSignIn(other.page, 'omar', otp, 'omar has his own passphrase');
    const ticket = `INC-${Date.now() % 100000}`;
    await requestSession(other.page, { ticket, reason: 'New laptop set-up', minutes: 15 });
    await expect.poll(() => other.page.getByTestId('request-state').textContent()).toMatch(/Waiting for an approver|Read this code/);

    // Organisation and roles.
    await card.getByLabel('Organisation of omar').fill('Acme Field IT');
    await card.getByRole('button', { name: 'Save organisation of omar' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain('Acme Field IT');
    await card.getByRole('checkbox', { name: /^approver/ }).check();
    await card.getByRole('button', { name: 'Save roles of omar' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain('analyst, approver');
    // A new one-time password ends omar's sign-in.
    await card.getByRole('button', { name: 'New one-time password for omar' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain("omar's password was replaced");
    const reset = (await page.getByTestId('one-time-password').textContent())!;
    expect(reset).not.toBe(otp);
    // Disable asks first.
    await card.getByRole('button', { name: 'Disable omar…' }).click();
    await shot(page, '61-admin-disable-confirm');
    await card.getByRole('button', { name: 'Yes, disable omar' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain('omar is disabled');
    await expect.poll(() => card.textContent()).toContain('disabled');
    const row = await s.broker.ctx.storage.db.selectFrom('accounts').select(['organisation', 'roles', 'disabled']).where('username', '=', 'omar').executeTakeFirstOrThrow();
    expect(row).toEqual({ organisation: 'Acme Field IT', roles: 'analyst,approver', disabled: 1 });

    // The policy this broker runs with, in sentences.
    await page.getByRole('button', { name: 'Policy' }).click();
    await expect.poll(() => page.getByTestId('policy-facts').textContent()).toContain('10 minutes (step-up)');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '65-admin-policy');

    // The audit log: each change with who made it; filter; verify.
    await page.getByRole('button', { name: 'Audit log' }).click();
    const table = page.getByTestId('audit-table');
    await table.waitFor();
    await page.getByLabel('Filter').fill('account.');
    for (const t of ['account.created', 'account.organisation_changed', 'account.roles_changed', 'account.password_reset', 'account.disabled']) {
      await expect.poll(() => table.textContent()).toContain(t);
    }
    const adminRows = await table.locator('tbody tr').filter({ hasText: 'account:admin' }).count();
    expect(adminRows).toBeGreaterThanOrEqual(5);
    await page.getByRole('button', { name: 'Verify the whole chain' }).click();
    await expect.poll(() => page.getByTestId('audit-verified').textContent()).toMatch(/^Intact: \d+ events/);
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '62-admin-audit-log');

    await page.getByRole('button', { name: 'Webhook deliveries' }).click();
    await page.getByLabel('Show').waitFor();
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '63-admin-deliveries');

    const before = s.broker.ctx.keys.active.kid;
    await page.getByRole('button', { name: 'Signing key' }).click();
    await page.getByRole('button', { name: 'Rotate the signing key…' }).click();
    await page.getByRole('button', { name: 'Yes, rotate the signing key now' }).click();
    await expect.poll(() => page.getByTestId('key-rotated').textContent()).toContain(`The previous key ${before}`);
    expect(s.broker.ctx.keys.active.kid).not.toBe(before);
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '64-admin-key-rotated');

    await s.broker.ctx.audit.flush();
    const byAdmin = (await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type']).where('actor', '=', 'account:admin').execute()).map((e) => e.type);
    expect(byAdmin).toEqual(expect.arrayContaining(['account.created', 'account.organisation_changed', 'account.roles_changed', 'account.password_reset', 'account.disabled', 'audit.verified', 'keys.rotated']));
  });
});
