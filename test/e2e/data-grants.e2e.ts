/**
 * Clipboard and files, asked for one by one with their direction, in real Chromium: the consent
 * screen says what may be asked, the analyst picks the way in the viewer, the end user's prompt
 * says exactly what allowing does, the grant shows on both sides with its direction, and the end
 * user switches it off again. The audit records each decision with the direction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: clipboard and files asked for with their direction';
const skip = skipWithout(SUITE, missingTools());

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start({ policy: { auto_approve: { capabilities: ['view', 'chat', 'clipboard', 'files'], analyst_kinds: ['internal'] } } });
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  it('files to this computer and clipboard both ways: asked, shown exactly, allowed, shown on both sides, switched off', async () => {
    const analyst = await s.user('analyst');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Install the VPN profile', also: ['clipboard', 'files'] });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    const caps = eu.page.getByTestId('consent-capabilities');
    await caps.waitFor();
    expect(await caps.textContent()).toContain('Use your clipboard — not now; only if you allow it later');
    expect(await caps.textContent()).toContain('they can send files to this computer or take files you choose from it');
    await shot(eu.page, '60-end-user-consent-clipboard-files');
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 30_000 }).toBe('View only');

    // Files, to the end user only.
    await an.page.getByTestId('request-files').click();
    const ask = an.page.getByTestId('ask-files-dialog');
    await ask.waitFor();
    await an.page.getByRole('radio', { name: 'To the end user only' }).check();
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '61-analyst-ask-files');
    await an.page.getByRole('button', { name: 'Ask the end user' }).click();
    const prompt = eu.page.getByTestId('control-prompt');
    await prompt.waitFor();
    expect(await prompt.getByRole('heading').textContent()).toBe(`${analyst.name} asks to send files to this computer`);
    expect(await prompt.textContent()).toContain('you accept or refuse each one, and accepted files go to your Downloads folder');
    expect(await prompt.textContent()).not.toContain('mouse');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '62-end-user-files-prompt');
    await eu.page.getByRole('button', { name: 'Allow files' }).click();
    await an.page.getByTestId('viewer-files-on').waitFor({ timeout: 10_000 });
    expect(await an.page.getByTestId('viewer-files-on').textContent()).toContain('Files: to the end user only');
    await expect.poll(() => eu.page.getByTestId('files-on').textContent()).toContain('can send files to this computer.');

    // Clipboard, both ways; denied this time, then asked again and allowed.
    await an.page.getByTestId('request-clipboard').click();
    await an.page.getByRole('button', { name: 'Ask the end user' }).click();
    await prompt.waitFor();
    expect(await prompt.getByRole('heading').textContent()).toBe(`${analyst.name} asks to copy text between your clipboard and theirs`);
    await shot(eu.page, '63-end-user-clipboard-prompt');
    await eu.page.getByRole('button', { name: 'Deny' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-notice').textContent()).toContain('did not allow clipboard');
    await an.page.getByTestId('request-clipboard').click();
    await an.page.getByRole('radio', { name: 'From the end user only' }).check();
    await an.page.getByRole('button', { name: 'Ask the end user' }).click();
    await prompt.waitFor();
    expect(await prompt.getByRole('heading').textContent()).toBe(`${analyst.name} asks to copy text from your clipboard to theirs`);
    await eu.page.getByRole('button', { name: 'Allow clipboard' }).click();
    await an.page.getByTestId('viewer-clipboard-on').waitFor({ timeout: 10_000 });
    expect(await eu.page.getByTestId('banner-can').textContent()).toBe('They can see your screen, copy text from your clipboard to theirs and send files to this computer');
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind).sort()).toEqual(['capture', 'clipboard', 'files']);
    expect(euHost.services.allows('files', (await euHost.services.handlers['grants.list']())[0]!.sessionId, 'to_end_user')).toBe(true);
    expect(euHost.services.allows('files', (await euHost.services.handlers['grants.list']())[0]!.sessionId, 'from_end_user')).toBe(false);
    await shot(eu.page, '64-end-user-files-clipboard-on');
    await shot(an.page, '65-analyst-files-clipboard-on');

    // The end user switches files off: the analyst's viewer follows.
    await eu.page.getByTestId('files-off').click();
    await an.page.getByTestId('request-files').waitFor({ timeout: 10_000 });
    expect((await euHost.services.handlers['grants.list']()).map((g) => g.kind).sort()).toEqual(['capture', 'clipboard']);
    await eu.page.getByTestId('stop').click();
    await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });

    const view = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    await s.broker.ctx.audit.flush();
    const rows = await s.broker.ctx.storage.db.selectFrom('audit_events').select(['type', 'meta']).where('session_id', '=', view.id).where('type', 'like', 'grant.%').orderBy('seq').execute();
    expect(rows.map((r) => [r.type, (JSON.parse(r.meta) as { capability: string }).capability, (JSON.parse(r.meta) as { direction?: string }).direction])).toEqual([
      ['grant.requested', 'files', 'to_end_user'],
      ['grant.granted', 'files', 'to_end_user'],
      ['grant.requested', 'clipboard', 'both'],
      ['grant.denied', 'clipboard', 'both'],
      ['grant.requested', 'clipboard', 'from_end_user'],
      ['grant.granted', 'clipboard', 'from_end_user'],
      ['grant.revoked', 'files', 'to_end_user'],
    ]);
  });
});
