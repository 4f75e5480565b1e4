/**
 * Comparing the verification code is not optional: before the end user first gives control in a
 * session, the control prompt shows the code and asks whether the analyst reads the same one,
 * while the analyst's viewer shows it large. "No" ends the session at once as
 * verification_failed, on both sides and at the broker, which records it; "Yes" allows control,
 * and a later request in the same session is a plain Allow or Deny.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn, type Person } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: the verification code is compared before the first control';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  let analyst: Person;
  beforeAll(async () => {
    s = await Stack.start({ policy: { auto_approve: { capabilities: ['view', 'chat', 'control'], analyst_kinds: ['internal'] } } });
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  async function liveSession(ticket: string) {
    // One analyst per test: a sign-in uses up the authenticator's next step.
    analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Password manager will not sync', control: true });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 10_000 });
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-sas-large').textContent().catch(() => ''), { timeout: 20_000 }).toMatch(/^\d{3} \d{3}$/);
    return { an, eu, id: (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)!.id };
  }

  it('"No, a different code" ends the session as verification_failed for both, and the broker records it', async () => {
    const ticket = `INC-${Date.now() % 100000}`;
    const { an, eu, id } = await liveSession(ticket);
    await an.page.getByTestId('request-control').click();
    const prompt = eu.page.getByTestId('control-prompt');
    await prompt.waitFor();
    const code = await an.page.getByTestId('viewer-sas-large').textContent();
    await expect.poll(() => eu.page.getByTestId('prompt-sas').textContent()).toBe(code);
    expect(await prompt.textContent()).toContain(`Ask them to read you the verification code on their screen.`);
    expect(await prompt.textContent()).toContain(`Does ${analyst.name} read the same code?`);
    expect(await axeSerious(eu.page)).toEqual([]);
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(eu.page, '15-end-user-code-check');
    await shot(an.page, '15b-analyst-code-large');
    // Nothing is granted while the question is open.
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind)).toEqual(['capture']);

    await eu.page.getByRole('button', { name: 'No, a different code: end the session' }).click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await eu.page.getByTestId('end-reason').textContent()).toContain('The verification codes did not match');
    await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('end-reason').textContent()).toContain('The verification codes did not match');
    await shot(eu.page, '16-end-user-codes-differ');
    await shot(an.page, '16b-analyst-codes-differ');
    expect(await s.broker.ctx.sessions.view(id)).toMatchObject({ state: 'ended', end_reason: 'verification_failed' });
    expect(await euHost.services.handlers['grants.list']()).toEqual([]);
    await s.broker.ctx.audit.flush();
    const ended = await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type', 'actor', 'meta']).where('session_id', '=', id).where('type', '=', 'session.ended').execute();
    expect(ended).toHaveLength(1);
    expect(JSON.parse(ended[0]!.meta)).toMatchObject({ reason: 'verification_failed' });
    expect(ended[0]!.actor).toMatch(/^end_user:/);
    await eu.browser.close();
    await an.context.close();
  });

  it('"Yes, the same code" allows control; the next request in the same session is a plain Allow or Deny', async () => {
    const { an, eu } = await liveSession(`INC-${Date.now() % 100000}`);
    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    await expect.poll(() => eu.page.getByTestId('prompt-sas').textContent()).toBe(await an.page.getByTestId('viewer-sas-large').textContent());
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 10_000 }).toBe('You have control');
    // In control, the large code makes room for the screen.
    expect(await an.page.getByTestId('viewer-sas-large').count()).toBe(0);
    await eu.page.getByTestId('take-back').click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent()).toBe('View only');
    await an.page.getByTestId('request-control').click();
    const prompt = eu.page.getByTestId('control-prompt');
    await prompt.waitFor();
    expect(await eu.page.getByTestId('code-check').count()).toBe(0);
    await eu.page.getByRole('button', { name: 'Allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 10_000 }).toBe('You have control');
    await eu.page.getByTestId('stop').click();
    await eu.page.getByTestId('end-screen').waitFor();
    await eu.browser.close();
    await an.context.close();
  });
});
