/**
 * A Wayland desktop, through both apps: the end user's main process takes the real factory's
 * Wayland path (no XTEST through XWayland, no portal to inject through), so when the end user
 * allows control, both sides read why it cannot work instead of a bare "denied", the broker
 * records the reason, and the session goes on view-only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInjector } from '../../main/injector-factory.js';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { shot } from './page-checks.js';

const SUITE = 'the app end to end: a Wayland session is view-only, said to both sides';
const skip = skipWithout(SUITE, missingTools());
const WAYLAND = { XDG_SESSION_TYPE: 'wayland', WAYLAND_DISPLAY: 'wayland-0', DISPLAY: ':0' };

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start();
  });
  afterAll(async () => s?.close());

  it('the end user allows control; both see "can be seen but not controlled: Wayland session"; sharing goes on', async () => {
    euHost = await s.host('end_user', { createInjector: () => createInjector('linux', { env: WAYLAND }) });
    const anHost = await s.host('staff');
    const apHost = await s.host('staff');
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const ticket = `INC-${Date.now() % 100000}`;

    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Wayland laptop', control: true, minutes: 15 });
    const ap = await s.staffPage(apHost);
    await signIn(ap.page, approver);
    await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 20_000 });

    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    // The first control of a session comes with the code check; the machine's refusal follows it.
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();

    await expect.poll(() => eu.page.getByTestId('notice').textContent(), { timeout: 10_000 }).toContain('This computer can be seen but not controlled: Wayland session.');
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent(), { timeout: 10_000 }).toContain('This computer can be seen but not controlled: Wayland session.');
    await shot(eu.page, '50-end-user-wayland-view-only');
    await shot(an.page, '51-analyst-wayland-view-only');
    // Nothing was granted on the machine; the screen is still shared, and the broker's record says why.
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind)).toEqual(['capture']);
    expect(await an.page.getByTestId('viewer-state').textContent()).not.toBe('You have control');
    const session = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    await s.broker.ctx.audit.flush();
    const denied = await s.broker.ctx.storage.db.selectFrom('audit_events').selectAll().where('session_id', '=', session.id).where('type', '=', 'grant.denied').execute();
    expect(denied.map((r) => JSON.parse(String(r.meta)) as { reason?: string })).toEqual([expect.objectContaining({ capability: 'control', reason: 'view_only_wayland' })]);
  });
});
