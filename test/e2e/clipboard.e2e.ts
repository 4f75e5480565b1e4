/**
 * Clipboard sync in real Chromium under Xvfb: text copied on the end user's X display (the
 * CLIPBOARD selection, written with Debian's xclip as any X program would) reaches the analyst's
 * page and clipboard, and text the analyst copies lands in the X clipboard, only while the end
 * user's grant allows it: nothing before the grant, a picture refused in words, nothing after
 * the end user switched it off.
 */
import { execFile, spawn } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: clipboard text between the X clipboard and the analyst';
const skip = skipWithout(SUITE, missingTools());
/** A 1x1 PNG, for a picture on the X clipboard. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64');

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start({ policy: { auto_approve: { capabilities: ['view', 'chat', 'clipboard'], analyst_kinds: ['internal'] } } });
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  /** Copies on the X display as a program there would; xclip keeps serving it until another copy. */
  function xCopy(data: string | Buffer, target?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('xclip', ['-selection', 'clipboard', ...(target ? ['-t', target] : []), '-i'], { env: { ...process.env, DISPLAY: s.xvfb.display }, stdio: ['pipe', 'ignore', 'ignore'] });
      p.once('error', reject);
      p.once('exit', () => resolve());
      p.stdin.end(data);
    });
  }
  function xPaste(): Promise<string> {
    return new Promise((resolve) => execFile('xclip', ['-selection', 'clipboard', '-o'], { env: { ...process.env, DISPLAY: s.xvfb.display }, encoding: 'utf8' }, (err, out) => resolve(err ? '' : out)));
  }
  const received = (an: Page) => an.getByTestId('clipboard-received').inputValue().catch(() => '');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('both ways while granted, a picture refused, nothing before the grant or after it is switched off', async () => {
    const analyst = await s.user('analyst');
    const anc = await s.staffPage(anHost);
    await anc.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: anHost.origin });
    const an = anc.page;
    await signIn(an, analyst);
    await requestSession(an, { ticket: `INC-C${Date.now() % 10000}`, reason: 'Paste the share path', also: ['clipboard'] });
    const codeEl = an.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const euc = await s.endUserPage(euHost);
    const eu = euc.page;
    await eu.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.getByRole('button', { name: 'Continue' }).click();
    await eu.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.getByTestId('request-clipboard').and(an.locator(':enabled')).waitFor({ timeout: 30_000 });

    // Before the grant: what the end user copies goes nowhere, what the analyst copies neither.
    await xCopy('password123 copied before any grant');
    await an.evaluate(() => navigator.clipboard.writeText('analyst text before the grant'));
    await sleep(1500);
    expect(await an.getByTestId('clipboard-panel').count()).toBe(0);
    expect(await xPaste()).toBe('password123 copied before any grant');

    await an.getByTestId('request-clipboard').click();
    await an.getByRole('radio', { name: 'Both ways' }).check();
    await an.getByRole('button', { name: 'Ask the end user' }).click();
    const prompt = eu.getByTestId('control-prompt');
    await prompt.waitFor({ timeout: 15_000 });
    expect(await prompt.textContent()).toContain('copy text between your clipboard and theirs');
    expect(await axeSerious(eu)).toEqual([]);
    await shot(eu, '81-end-user-clipboard-prompt');
    await eu.getByRole('button', { name: 'Allow clipboard' }).click();
    await an.getByTestId('clipboard-panel').waitFor({ timeout: 10_000 });
    // What was on either clipboard at the grant is not sent: only what is copied from now on.
    await sleep(1000);
    expect(await received(an)).toBe('');
    expect(await xPaste()).toBe('password123 copied before any grant');

    // End user -> analyst: copied in X, shown in the panel and put in the analyst's clipboard.
    await xCopy('Ticket 4711: error 0x80070005');
    await expect.poll(() => received(an), { timeout: 10_000 }).toBe('Ticket 4711: error 0x80070005');
    await expect.poll(() => an.evaluate(() => navigator.clipboard.readText()), { timeout: 5000 }).toBe('Ticket 4711: error 0x80070005');
    expect(await axeSerious(an)).toEqual([]);
    await shot(an, '82-analyst-clipboard-received');

    // Analyst -> end user: copied in the analyst's browser, lands in the X clipboard.
    await an.evaluate(() => navigator.clipboard.writeText('\\\\files\\share\\vpn'));
    await expect.poll(() => xPaste(), { timeout: 10_000 }).toBe('\\\\files\\share\\vpn');
    // ...and is not echoed back as if the end user had copied it.
    await sleep(1000);
    expect(await received(an)).toBe('Ticket 4711: error 0x80070005');

    // A picture: refused, and the analyst is told why.
    await xCopy(PNG, 'image/png');
    await expect.poll(() => an.getByTestId('clipboard-note').textContent().catch(() => ''), { timeout: 10_000 }).toContain('not text');
    await shot(an, '83-analyst-clipboard-picture-refused');

    // Switched off: nothing more either way.
    await eu.getByTestId('clipboard-off').click();
    await an.getByTestId('clipboard-panel').waitFor({ state: 'detached', timeout: 10_000 });
    await xCopy('copied after the grant went');
    await an.evaluate(() => navigator.clipboard.writeText('analyst text after the grant'));
    await sleep(1500);
    expect(await xPaste()).toBe('copied after the grant went');
    expect(await an.evaluate(() => navigator.clipboard.readText())).toBe('analyst text after the grant');
    // Main no longer looks at the end user's clipboard at all.
    expect(euHost.services.activeSessions().some((id) => euHost.services.clipboard?.watching(id))).toBe(false);

    // On the record: which way and how long, never the text.
    await expect
      .poll(async () => {
        await s.broker.ctx.audit.flush();
        const rows = await s.broker.ctx.storage.db.selectFrom('audit_events').select('meta').where('type', '=', 'clipboard.sync').orderBy('seq').execute();
        return rows.map((r) => JSON.parse(r.meta) as Record<string, unknown>);
      }, { timeout: 10_000 })
      .toEqual([{ direction: 'from_end_user', length: 29 }, { direction: 'to_end_user', length: 17 }]);
    await eu.getByTestId('stop').click();
    await anc.context.close();
    await euc.browser.close();
  }, 240_000);
});
