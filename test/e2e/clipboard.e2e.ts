/**
 * Clipboard sync in real Chromium under Xvfb: text copied on the end user's X display (the
 * CLIPBOARD selection, written with Debian's xclip as any X program would) reaches the analyst's
 * page and clipboard, and text the analyst copies lands in the X clipboard, only while the end
 * user's grant allows it: nothing before the grant, a picture refused in words, nothing after
 * the end user switched it off. Where the organisation's policy allows pictures
 * (`clipboard_images`), a PNG copied in X reaches the analyst and one the analyst copies lands in
 * X, and the consent screen and the prompt say pictures are included.
 */
import { execFile, spawn } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';
import { noisePng as png } from '../helpers/png.js';

const SUITE = 'the app end to end: clipboard text between the X clipboard and the analyst';
const skip = skipWithout(SUITE, missingTools());
/** A 1x1 PNG, for a picture on the X clipboard. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64');

/**
 * A live session with clipboard asked for: the analyst's page (allowed to use the browser's
 * clipboard) and the end user's, who accepts once `onConsent` has read the consent screen.
 */
async function clipboardSession(s: Stack, anHost: BrowserHost, euHost: BrowserHost, ticket: string, reason: string, onConsent?: (eu: Page) => Promise<void>) {
  const anc = await s.staffPage(anHost);
  await anc.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: anHost.origin });
  const an = anc.page;
  await signIn(an, await s.user('analyst'));
  await requestSession(an, { ticket, reason, also: ['clipboard'] });
  const codeEl = an.getByTestId('join-code');
  await codeEl.waitFor({ timeout: 15_000 });
  const euc = await s.endUserPage(euHost);
  const eu = euc.page;
  await eu.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
  await eu.getByRole('button', { name: 'Continue' }).click();
  await onConsent?.(eu);
  await eu.getByRole('button', { name: 'Accept and share my screen' }).click();
  await an.getByTestId('request-clipboard').and(an.locator(':enabled')).waitFor({ timeout: 30_000 });
  return { anc, euc, an, eu };
}

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
    const { anc, euc, an, eu } = await clipboardSession(s, anHost, euHost, `INC-C${Date.now() % 10000}`, 'Paste the share path');

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
    await expect.poll(() => an.getByTestId('clipboard-note').textContent().catch(() => ''), { timeout: 10_000 }).toContain('only text is shared');
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
      .toEqual([{ direction: 'from_end_user', type: 'text', length: 29 }, { direction: 'to_end_user', type: 'text', length: 17 }]);
    await eu.getByTestId('stop').click();
    await anc.context.close();
    await euc.browser.close();
  }, 240_000);
});

describe.skipIf(skip)('the app end to end: clipboard pictures where policy allows them', () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start({ policy: { clipboard_images: true, auto_approve: { capabilities: ['view', 'chat', 'clipboard'], analyst_kinds: ['internal'] } } });
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  const env = () => ({ ...process.env, DISPLAY: s.xvfb.display });
  function xCopy(data: Buffer, target: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('xclip', ['-selection', 'clipboard', '-t', target, '-i'], { env: env(), stdio: ['pipe', 'ignore', 'ignore'] });
      p.once('error', reject);
      p.once('exit', () => resolve());
      p.stdin.end(data);
    });
  }
  function xPastePng(): Promise<Buffer | null> {
    return new Promise((resolve) => execFile('xclip', ['-selection', 'clipboard', '-t', 'image/png', '-o'], { env: env(), encoding: 'buffer' }, (err, out) => resolve(err ? null : out)));
  }
  /** The PNG in the analyst's browser clipboard, as bytes (the browser keeps its own encoding of a picture). */
  const analystPng = (an: Page) =>
    an.evaluate(async () => {
      for (const item of await navigator.clipboard.read()) if (item.types.includes('image/png')) return [...new Uint8Array(await (await item.getType('image/png')).arrayBuffer())];
      return null;
    });

  it('a PNG copied in X reaches the analyst and one the analyst copies lands in X, said so in the consent and the prompt, on the record by type and length', async () => {
    const { anc, euc, an, eu } = await clipboardSession(s, anHost, euHost, `INC-P${Date.now() % 10000}`, 'Send me a screenshot of the error', async (consent) => {
      await expect.poll(() => consent.getByTestId('consent-clipboard-images').textContent(), { timeout: 15_000 }).toContain('Text and pictures may be copied');
    });
    await an.getByTestId('request-clipboard').click();
    await an.getByRole('radio', { name: 'Both ways' }).check();
    await an.getByRole('button', { name: 'Ask the end user' }).click();
    const prompt = eu.getByTestId('control-prompt');
    await prompt.waitFor({ timeout: 15_000 });
    expect(await prompt.textContent()).toContain('copy text and pictures between your clipboard and theirs');
    expect(await axeSerious(eu)).toEqual([]);
    await shot(eu, '84-end-user-clipboard-pictures-prompt');
    await eu.getByRole('button', { name: 'Allow clipboard' }).click();
    await expect.poll(() => an.getByTestId('clipboard-terms').textContent().catch(() => ''), { timeout: 10_000 }).toContain('Text and pictures');
    await new Promise((r) => setTimeout(r, 1000));

    // End user -> analyst: more than one piece (32 KiB each), whole in the panel and the analyst's clipboard.
    const pic = png(160, 120);
    await xCopy(pic, 'image/png');
    const figure = an.getByTestId('clipboard-image');
    await figure.waitFor({ timeout: 15_000 });
    expect(Number(await figure.getAttribute('data-bytes'))).toBe(pic.length);
    // The picture decodes to what was copied: its size in pixels.
    await expect.poll(() => figure.locator('img').evaluate((i: HTMLImageElement) => `${i.naturalWidth}x${i.naturalHeight}`), { timeout: 5000 }).toBe('160x120');
    await expect.poll(async () => (await analystPng(an)) !== null, { timeout: 5000 }).toBe(true);
    expect(await axeSerious(an)).toEqual([]);
    await shot(an, '85-analyst-clipboard-picture-received');

    // Analyst -> end user: a picture put in the analyst's clipboard lands in X as image/png.
    await an.evaluate(async () => {
      const c = document.createElement('canvas');
      c.width = 64;
      c.height = 48;
      const g = c.getContext('2d')!;
      g.fillStyle = '#c03030';
      g.fillRect(0, 0, 64, 48);
      const blob = await new Promise<Blob>((r) => c.toBlob((b) => r(b!), 'image/png'));
      await navigator.clipboard.write([new ClipboardItem({ 'image/png': blob })]);
    });
    const sent = Buffer.from((await analystPng(an))!);
    await expect.poll(async () => (await xPastePng())?.equals(sent) ?? false, { timeout: 10_000 }).toBe(true);

    // On the record: which way, what type, how long; never the bytes.
    await expect
      .poll(async () => {
        await s.broker.ctx.audit.flush();
        const rows = await s.broker.ctx.storage.db.selectFrom('audit_events').select('meta').where('type', '=', 'clipboard.sync').orderBy('seq').execute();
        return rows.map((r) => JSON.parse(r.meta) as Record<string, unknown>);
      }, { timeout: 10_000 })
      .toEqual([{ direction: 'from_end_user', type: 'image/png', length: pic.length }, { direction: 'to_end_user', type: 'image/png', length: sent.length }]);
    await eu.getByTestId('stop').click();
    await anc.context.close();
    await euc.browser.close();
  }, 240_000);
});
