/**
 * One full attended session through the app's screens, in real Chromium: the analyst signs in and
 * asks, the approver approves, the end user types the code and consents, the analyst sees the real
 * X screen, both sides read the same verification code, the end user allows control, the analyst
 * clicks and types into a window on the X display, the end user takes control back, then Stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { H, ROOT_POINT, Stack, W, missingTools, requestSession, signIn, xsetroot } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { at200, axeSerious, shot, viewerPixel, viewerPoint } from './page-checks.js';

const SUITE = 'the app end to end: one full attended session';
const skip = skipWithout(SUITE, missingTools());

const near = (got: [number, number, number] | null, want: [number, number, number]) => got !== null && got.every((v, i) => Math.abs(v - want[i]!) <= 48);

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  let apHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start();
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
    apHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  it('request, approval, code, consent, the real screen, the same code, control, take-back, Stop', async () => {
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const ticket = `INC-${Date.now() % 100000}`;

    // The analyst signs in and asks for view, chat and control.
    const an = await s.staffPage(anHost);
    await shot(an.page, '01-analyst-sign-in');
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Printer driver will not install', control: true, minutes: 15 });
    await expect.poll(() => an.page.getByTestId('request-state').textContent()).toContain('Waiting for an approver');
    await shot(an.page, '02-analyst-awaiting-approval');

    // The approver sees who, what, why and how long, and approves.
    const ap = await s.staffPage(apHost);
    await signIn(ap.page, approver);
    const card = ap.page.getByTestId(`pending-${ticket}`);
    await card.waitFor();
    await expect.poll(() => card.textContent()).toContain(analyst.name);
    expect(await card.textContent()).toContain('Printer driver will not install');
    expect(await card.textContent()).toContain('15 minutes');
    expect(await card.textContent()).toContain('control');
    await shot(ap.page, '03-approver-pending');
    await card.getByRole('button', { name: `Approve ${ticket}` }).click();
    await ap.page.getByTestId('approvals-message').waitFor();

    // The analyst gets the code to read out.
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 10_000 });
    const code = (await codeEl.textContent())!.trim();
    expect(code).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    await shot(an.page, '04-analyst-code');

    // The end user enters it and sees the consent screen from the broker's signed offer.
    const eu = await s.endUserPage(euHost);
    await shot(eu.page, '05-end-user-code-entry');
    await eu.page.getByLabel('Join code').fill(code.toLowerCase());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('heading', { name: `${analyst.name} wants to see your screen` }).waitFor();
    expect(await eu.page.getByTestId('consent-who').textContent()).toContain('Acme IT');
    expect(await eu.page.getByTestId('consent-verification').textContent()).toMatch(/password and authenticator code; passed MFA just now/);
    expect(await eu.page.getByTestId('consent-ticket').textContent()).toBe(ticket);
    expect(await eu.page.getByTestId('consent-duration').textContent()).toContain('15 minutes');
    const caps = await eu.page.getByTestId('consent-capabilities').textContent();
    expect(caps).toContain('They can see your screen while the session runs.');
    expect(caps).toContain('If you allow it later, they can move your mouse and type on your keyboard.');
    expect(caps).toContain('not now; only if you allow it later');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '06-end-user-consent');
    expect(await at200(eu.page, '06b-end-user-consent-200pct', ['Accept and share my screen', 'Decline'])).toEqual({ horizontalScroll: false, clipped: [] });
    // Nothing is granted before Accept.
    expect(await euHost.services.handlers['grants.list']()).toEqual([]);
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();

    // The banner: countdown, who, what they can do, the code, Pause, Stop.
    const banner = eu.page.getByTestId('banner');
    await banner.waitFor();
    await expect.poll(() => eu.page.getByTestId('banner-who').textContent(), { timeout: 20_000 }).toContain(`${analyst.name} (Acme IT) is connected`);
    expect(await eu.page.getByTestId('banner-countdown').textContent()).toMatch(/^1[45]:\d\d$/);
    expect(await eu.page.getByTestId('banner-can').textContent()).toBe('They can see your screen');
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind)).toEqual(['capture']);

    // Both sides show the same verification code.
    const sasRe = /^\d{3} \d{3}$/;
    await expect.poll(() => eu.page.getByTestId('banner-sas').textContent(), { timeout: 20_000 }).toMatch(sasRe);
    await expect.poll(() => an.page.getByTestId('viewer-sas').textContent(), { timeout: 20_000 }).toMatch(sasRe);
    expect(await an.page.getByTestId('viewer-sas').textContent()).toBe(await eu.page.getByTestId('banner-sas').textContent());

    // The analyst sees the real X screen: the root window turns red, then blue.
    const rp = { x: ROOT_POINT.x / W, y: ROOT_POINT.y / H };
    await xsetroot(s.xvfb.display, '#ff0000');
    await expect.poll(() => viewerPixel(an.page, rp.x, rp.y).then((p) => near(p, [255, 0, 0])), { timeout: 15_000 }).toBe(true);
    await xsetroot(s.xvfb.display, '#0000ff');
    await expect.poll(() => viewerPixel(an.page, rp.x, rp.y).then((p) => near(p, [0, 0, 255])), { timeout: 15_000 }).toBe(true);
    await shot(eu.page, '07-end-user-banner');
    await shot(an.page, '08-analyst-viewer');
    expect(await axeSerious(eu.page)).toEqual([]);
    expect(await axeSerious(an.page)).toEqual([]);
    expect(await at200(eu.page, '07b-end-user-banner-200pct', ['Pause sharing', 'Stop'])).toEqual({ horizontalScroll: false, clipped: [] });
    expect(await at200(an.page, '08b-analyst-viewer-200pct', ['Request control', 'End session'])).toEqual({ horizontalScroll: false, clipped: [] });

    // Chat both ways (the analyst's messages reach the end user through main's input gate).
    await an.page.getByLabel('Message').fill('Hello, I can see your screen now.');
    await an.page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => eu.page.getByTestId('chat-log').textContent()).toContain('Hello, I can see your screen now.');
    await eu.page.getByLabel('Message').fill('Great, thanks');
    await eu.page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => an.page.getByTestId('chat-log').textContent()).toContain('Great, thanks');
    expect(euHost.services.gate.counters.chat).toBe(1);

    // Pause sharing: the analyst sees nothing; Resume: the live screen is back.
    await eu.page.getByRole('button', { name: 'Pause sharing' }).click();
    await expect.poll(() => eu.page.getByTestId('banner-can').textContent()).toBe('Sharing paused: they cannot see your screen');
    await an.page.getByTestId('screen-empty').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('screen-empty').textContent()).toBe('The end user paused sharing: you cannot see their screen until they resume.');
    await shot(an.page, '08c-analyst-sharing-paused');
    await shot(eu.page, '08d-end-user-sharing-paused');
    await eu.page.getByRole('button', { name: 'Resume sharing' }).click();
    await expect.poll(() => eu.page.getByTestId('banner-can').textContent()).toBe('They can see your screen');
    await expect.poll(() => an.page.getByTestId('screen-empty').count(), { timeout: 10_000 }).toBe(0);
    await xsetroot(s.xvfb.display, '#00ff00');
    await expect.poll(() => viewerPixel(an.page, rp.x, rp.y).then((px) => near(px, [0, 255, 0])), { timeout: 15_000 }).toBe(true);

    // Before any grant, a click in the viewer sends nothing and lands nowhere.
    await s.target.reset();
    const btn = await s.target.centreOf('#b');
    let p = await viewerPoint(an.page, btn.x, btn.y);
    await an.page.mouse.click(p.x, p.y);
    await new Promise((r) => setTimeout(r, 500));
    expect((await s.target.state()).clicks).toBe(0);

    // The analyst asks for control; the end user allows.
    await an.page.getByTestId('request-control').click();
    const prompt = eu.page.getByTestId('control-prompt');
    await prompt.waitFor();
    expect(await prompt.textContent()).toContain(`${analyst.name} asks to control your mouse and keyboard`);
    // Before the first control: the code, large on both sides, and the question.
    expect(await eu.page.getByTestId('prompt-sas').textContent()).toBe(await an.page.getByTestId('viewer-sas-large').textContent());
    expect(await prompt.textContent()).toContain(`Does ${analyst.name} read the same code?`);
    await shot(eu.page, '09-end-user-control-prompt');
    await shot(an.page, '09b-analyst-code-large');
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent()).toBe('You have control');
    await expect.poll(() => eu.page.getByTestId('banner-can').textContent()).toBe('They can see your screen and control your mouse and keyboard');

    // A click on the button in the viewer lands on the button on the X display; typing lands in the field.
    p = await viewerPoint(an.page, btn.x, btn.y);
    await an.page.mouse.click(p.x, p.y);
    await expect.poll(async () => (await s.target.state()).clicks, { timeout: 5000 }).toBe(1);
    const field = await s.target.centreOf('#i');
    p = await viewerPoint(an.page, field.x, field.y);
    await an.page.mouse.click(p.x, p.y);
    await an.page.keyboard.type('Hello from Chaperone');
    await expect.poll(async () => (await s.target.state()).value, { timeout: 5000 }).toBe('Hello from Chaperone');
    await shot(an.page, '10-analyst-in-control');
    await shot(eu.page, '11-end-user-control-granted');

    // The end user takes control back: further clicks land nowhere.
    await eu.page.getByTestId('take-back').click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent()).toBe('View only');
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind)).toEqual(['capture']);
    const injected = euHost.services.gate.counters.injected;
    p = await viewerPoint(an.page, btn.x, btn.y);
    await an.page.mouse.click(p.x, p.y);
    await an.page.keyboard.type('more');
    await new Promise((r) => setTimeout(r, 700));
    expect(await s.target.state()).toEqual({ clicks: 1, value: 'Hello from Chaperone' });
    expect(euHost.services.gate.counters.injected).toBe(injected);

    // Stop: every side shows the end, the broker has ended it, nothing is left granted.
    await eu.page.getByTestId('stop').click();
    await eu.page.getByTestId('end-screen').waitFor();
    expect(await eu.page.getByTestId('end-reason').textContent()).toBe('You stopped the session.');
    expect(await eu.page.getByTestId('end-revoked').textContent()).toContain('switched off: screen sharing');
    expect(await eu.page.getByTestId('end-revoked').textContent()).toContain('mouse and keyboard control was taken back by you');
    await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('end-reason').textContent()).toBe('The end user stopped the session.');
    const view = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    expect(view).toMatchObject({ state: 'ended', end_reason: 'user_stopped' });
    expect(await euHost.services.handlers['grants.list']()).toEqual([]);
    await shot(eu.page, '12-end-user-ended');
    await shot(an.page, '13-analyst-ended');
    await s.broker.ctx.audit.flush();
    const types = (await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type']).where('session_id', '=', view.id).orderBy('seq').execute()).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['session.approved', 'session.active', 'grant.granted', 'grant.revoked', 'client.teardown_report', 'session.ended']));
  });
});
