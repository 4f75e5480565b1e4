/**
 * The admin's screens in the console, in real Chromium against the real broker: from the printed
 * admin's one-time password to a person added, their roles and organisation changed, a new
 * one-time password, a disabled account; the audit log (filter, verify) naming the admin for each
 * change; webhook deliveries; a key rotation. The person added signs in with what the screen
 * showed and asks for a session: a newcomer needs nothing but the app and the printed secrets.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
  // The rotation service's receiver: it was down (the delivery below failed), now it answers.
  let receiver: http.Server;
  let hookUrl = '';
  const received: string[] = [];
  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(req.url ?? '');
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/chaperone`;
    s = await Stack.start({ file: { hooks: [{ url: hookUrl, secret: 'r'.repeat(24), events: ['session.ended'] }] } });
    host = await s.host('staff');
  });
  afterAll(async () => {
    await s?.close();
    await new Promise((r) => receiver?.close(r));
  });

  it('people, audit log, deliveries and keys, each change audited with the admin who made it', async () => {
    const printed = s.broker.firstRun!;
    const { page } = await s.staffPage(host);
    await firstSignIn(page, 'admin', printed.one_time_password, 'the admin passphrase here');
    await page.getByRole('heading', { name: 'Administration' }).waitFor();

    // Add an analyst: the one-time password is shown once, on the screen.
    await page.getByLabel('Username', { exact: true }).fill('omar');
    await page.getByLabel('Full name', { exact: true }).fill('Omar Haddad');
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
    await card.getByLabel('Organisation of Omar Haddad (omar)', { exact: true }).fill('Acme Field IT');
    await card.getByRole('button', { name: 'Save organisation of Omar Haddad (omar)' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain('Acme Field IT');
    await card.getByRole('checkbox', { name: /^approver/ }).check();
    await card.getByRole('button', { name: 'Save roles of Omar Haddad (omar)' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain('analyst, approver');
    // A new one-time password ends omar's sign-in.
    await card.getByRole('button', { name: 'New one-time password for Omar Haddad (omar)' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain("Omar Haddad's password was replaced");
    const reset = (await page.getByTestId('one-time-password').textContent())!;
    expect(reset).not.toBe(otp);
    // Disable asks first.
    await card.getByRole('button', { name: 'Disable Omar Haddad (omar)…' }).click();
    await shot(page, '61-admin-disable-confirm');
    await card.getByRole('button', { name: 'Yes, disable Omar Haddad (omar)' }).click();
    await expect.poll(() => page.getByTestId('admin-message').textContent()).toContain('Omar Haddad is disabled');
    await expect.poll(() => card.textContent()).toContain('disabled');
    const row = await s.broker.ctx.storage.db.selectFrom('accounts').select(['organisation', 'roles', 'disabled']).where('username', '=', 'omar').executeTakeFirstOrThrow();
    expect(row).toEqual({ organisation: 'Acme Field IT', roles: 'analyst,approver', disabled: 1 });

    // The policy: edited here, saved for new requests, audited with what changed.
    await page.getByRole('button', { name: 'Policy' }).click();
    const stepUp = page.getByLabel('Control and files need a second factor from the last (minutes)', { exact: true });
    await expect.poll(() => stepUp.inputValue()).toBe('10');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '65-admin-policy');
    await stepUp.fill('5');
    await page.getByTestId('policy-form').getByRole('checkbox', { name: 'file transfer' }).nth(1).check();
    // A rule the schema has: a longest session beyond the hard limit is refused, named.
    await page.getByLabel('Longest session asked for (minutes)', { exact: true }).fill('500');
    await page.getByRole('button', { name: 'Save policy' }).click();
    // Named in the admin's words, not as keys of broker.json.
    await expect.poll(() => page.getByTestId('policy-error').textContent()).toContain('"longest session asked for" must not exceed "longest session with extensions"');
    expect(await page.getByTestId('policy-error').textContent()).not.toMatch(/[a-z]+_[a-z]+/);
    await shot(page, '66-admin-policy-refused');
    await page.getByLabel('Longest session asked for (minutes)', { exact: true }).fill('60');
    // Settings only broker.json had before: the join code's life, how long recordings are kept, who needs an authenticator.
    await page.getByLabel('A join code works for (minutes)', { exact: true }).fill('5');
    await page.getByLabel('Recordings are kept for (days)', { exact: true }).fill('90');
    await page.getByRole('group', { name: 'Need an authenticator app to sign in' }).getByRole('checkbox', { name: 'auditors' }).check();
    await page.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(() => page.getByTestId('policy-note').textContent()).toContain('Saved.');
    const note = (await page.getByTestId('policy-note').textContent())!;
    for (const words of ['how long a join code works', 'who needs an authenticator app', 'how fresh the second factor must be', 'recording', 'what is switched off for everyone']) expect(note).toContain(words);
    expect(note).not.toMatch(/[a-z]+_[a-z]+/);
    expect(s.broker.ctx.cfg.policy.step_up_minutes).toBe(5);
    expect(s.broker.ctx.cfg.policy.denied_capabilities).toEqual(['files']);
    expect(s.broker.ctx.cfg.policy.code_ttl_minutes).toBe(5);
    expect(s.broker.ctx.cfg.policy.recordings.retention_days).toBe(90);
    expect(s.broker.ctx.cfg.policy.mfa_required_roles).toContain('auditor');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '67-admin-policy-saved');

    // The audit log: each change with who made it; filter; verify.
    await page.getByRole('button', { name: 'Audit log' }).click();
    const table = page.getByTestId('audit-table');
    await table.waitFor();
    await page.getByLabel('Filter', { exact: true }).fill('account.');
    for (const t of ['account.created', 'account.organisation_changed', 'account.roles_changed', 'account.password_reset', 'account.disabled']) {
      await expect.poll(() => table.textContent()).toContain(t);
    }
    const adminRows = await table.locator('tbody tr').filter({ hasText: 'account:admin' }).count();
    expect(adminRows).toBeGreaterThanOrEqual(5);
    await page.getByRole('button', { name: 'Verify the whole chain' }).click();
    await expect.poll(() => page.getByTestId('audit-verified').textContent()).toMatch(/^Intact: \d+ events/);
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '62-admin-audit-log');

    // A session.ended delivery that failed after every retry while the receiver was down.
    const failed = s.broker.ctx.hooks.deliveries('session.ended', { session_id: crypto.randomUUID(), ticket: 'INC-4711' }).map((d) => ({ ...d, status: 'failed', attempts: 6, last_error: 'connect ECONNREFUSED' }));
    await s.broker.ctx.storage.db.insertInto('hook_deliveries').values(failed).execute();
    await page.getByRole('button', { name: 'Webhook deliveries' }).click();
    await page.getByLabel('Show', { exact: true }).waitFor();
    await expect.poll(() => page.getByTestId('delivery-status').first().textContent()).toBe('failed');
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '63-admin-deliveries');
    await page.getByRole('button', { name: /^Retry now: the session.ended delivery to 127\.0\.0\.1/ }).click();
    await expect.poll(() => page.getByTestId('delivery-status').first().textContent(), { timeout: 15_000 }).toBe('delivered');
    // (Sessions ended earlier in this test reached the receiver too, by themselves.)
    expect(received).toContain('/chaperone');
    const retriedRow = await s.broker.ctx.storage.db.selectFrom('hook_deliveries').select(['status', 'attempts']).where('id', '=', failed[0]!.id).executeTakeFirstOrThrow();
    expect(retriedRow).toEqual({ status: 'delivered', attempts: 7 });
    expect(await page.getByRole('button', { name: /^Retry now/ }).count()).toBe(0);
    expect(await axeSerious(page)).toEqual([]);
    await shot(page, '68-admin-delivery-retried');

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
    expect(byAdmin).toEqual(expect.arrayContaining(['account.created', 'account.organisation_changed', 'account.roles_changed', 'account.password_reset', 'account.disabled', 'audit.verified', 'keys.rotated', 'policy.changed', 'hook.retried']));
  });
});
