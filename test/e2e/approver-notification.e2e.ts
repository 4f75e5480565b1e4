/**
 * An approver with the console open learns of a new request by a desktop notification (issue 13):
 * the page's Notification API, allowed for the console's origin, is called once per request that
 * arrives after the approver's first look, naming the ticket, the analyst by display name and what
 * they ask. The real Notification is kept; the test only notes each one made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: the approver is notified of a request';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  beforeAll(async () => {
    s = await Stack.start();
  });
  afterAll(async () => s?.close());

  it('a request that arrives while the console is open gives one desktop notification', { timeout: 90_000 }, async () => {
    const host = await s.host('staff');
    const analyst = await s.user('analyst', 'internal', { displayName: 'Ana Lyst' });
    const approver = await s.user('approver', 'internal', { displayName: 'Bob Ode' });
    const ap = await s.staffPage(host);
    await ap.context.grantPermissions(['notifications'], { origin: host.origin });
    await ap.context.addInitScript(() => {
      const Real = window.Notification;
      const made: { title: string; body: string | undefined }[] = [];
      (window as unknown as { madeNotifications: typeof made }).madeNotifications = made;
      class Noted extends Real {
        constructor(title: string, opts?: NotificationOptions) {
          super(title, opts);
          made.push({ title, body: opts?.body });
        }
      }
      window.Notification = Noted as typeof Notification;
    });
    await ap.page.reload();
    if ((await ap.page.getByTestId('staff-name').count()) === 0) await signIn(ap.page, approver);
    expect(await ap.page.evaluate(() => Notification.permission)).toBe('granted');
    const made = () => ap.page.evaluate(() => (window as unknown as { madeNotifications: unknown[] }).madeNotifications);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await made()).toEqual([]);

    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(host);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Reinstall the VPN client', control: true });
    await ap.page.getByTestId(`pending-${ticket}`).waitFor({ timeout: 15_000 });
    await expect.poll(made, { timeout: 10_000 }).toEqual([{ title: `Approval needed: ${ticket}`, body: expect.stringMatching(/^Ana Lyst asks to .*control.* for 15 minutes\.$/) }]);
    expect(await axeSerious(ap.page)).toEqual([]);
    await shot(ap.page, '77-approver-notified-request');
    // The next poll does not notify the same request again.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await made()).toHaveLength(1);
  });
});
