/**
 * File transfer the other way, in real Chromium under Xvfb: the end user sends a file they pick
 * with "Send a file" in the banner (only while the files grant lets files leave their computer);
 * the analyst sees its name, size and sender, accepts or refuses, and the file arrives in the
 * analyst browser's downloads with the right SHA-256, progress on both sides. Cancelling from the
 * analyst's side and taking the grant back stop it at once; each decision is on the record.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, recordTexts, shot } from './page-checks.js';

const SUITE = 'the app end to end: files from the end user to the analyst';
const skip = skipWithout(SUITE, missingTools());
const MiB = 1024 * 1024;

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start({ policy: { auto_approve: { capabilities: ['view', 'chat', 'files'], analyst_kinds: ['internal'] } } });
    euHost = await s.host('end_user', { receiveFolder: path.join(s.dir, 'end-user-downloads') });
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  async function session(ticket: string, way: 'From the end user only' | 'To the end user only'): Promise<{ an: Page; eu: Page; close: () => Promise<void> }> {
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Collect the crash log', also: ['files'] });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('request-files').and(an.page.locator(':enabled')).waitFor({ timeout: 30_000 });
    await an.page.getByTestId('request-files').click();
    await an.page.getByRole('radio', { name: way }).check();
    await an.page.getByRole('button', { name: 'Ask the end user' }).click();
    await eu.page.getByRole('button', { name: 'Allow files' }).click();
    await an.page.getByTestId('viewer-files-on').waitFor({ timeout: 10_000 });
    return { an: an.page, eu: eu.page, close: async () => { await an.context.close(); await eu.browser.close(); } };
  }

  async function fileRecords(name: string): Promise<unknown[][]> {
    await s.broker.ctx.audit.flush();
    const rows = await s.broker.ctx.storage.db.selectFrom('audit_events').select('meta').where('type', '=', 'file.transfer').orderBy('seq').execute();
    return rows.map((r) => JSON.parse(r.meta) as Record<string, unknown>).filter((m) => m.name === name).map((m) => [m.event, m.direction, m.size, m.sha256]);
  }

  it('the end user sends a file from the banner; the analyst refuses, then accepts, and it downloads whole', async () => {
    const { an, eu, close } = await session(`INC-U${Date.now() % 10000}`, 'From the end user only');
    const log = path.join(s.dir, 'crash-log.bin');
    const data = crypto.randomBytes(40 * MiB);
    fs.writeFileSync(log, data);
    const want = crypto.createHash('sha256').update(data).digest('hex');
    const send = eu.getByTestId('banner').getByTestId('send-file-input');

    // Refused: the end user is told, nothing is downloaded.
    await send.setInputFiles(log);
    const offer = an.getByTestId('file-offer');
    await offer.waitFor({ timeout: 30_000 });
    expect(await an.getByTestId('file-offer-name').textContent()).toBe('crash-log.bin');
    expect(await an.getByTestId('file-offer-size').textContent()).toBe('41.9 MB');
    expect(await an.getByTestId('file-offer-from').textContent()).toBeTruthy();
    expect(await offer.textContent()).toContain('wants to send you a file');
    expect(await axeSerious(an)).toEqual([]);
    await shot(an, '76-analyst-file-offer-from-end-user');
    await shot(eu, '77-end-user-send-file-waiting');
    await an.getByRole('button', { name: 'Refuse' }).click();
    await expect.poll(() => eu.getByTestId('transfer-out-state').last().textContent(), { timeout: 10_000 }).toMatch(/refused the file\. Nothing was written\./);

    // Accepted: progress with speed and time left on both sides, then the download with the right hash.
    await send.setInputFiles(log);
    await offer.waitFor({ timeout: 30_000 });
    const download = an.waitForEvent('download', { timeout: 180_000 });
    const anTexts = await recordTexts(an, 'transfer-in-progress');
    const euTexts = await recordTexts(eu, 'transfer-out-progress');
    await an.getByRole('button', { name: 'Accept file' }).click();
    const seen = { an: new Set<string>(), eu: new Set<string>() };
    let shotTaken = false;
    await expect
      .poll(
        async () => {
          const a = await an.getByTestId('transfer-in-progress').last().textContent().catch(() => '');
          const e = await eu.getByTestId('transfer-out-progress').last().textContent().catch(() => '');
          if (a) seen.an.add(a);
          if (e) seen.eu.add(e);
          if (!shotTaken && /\/s/.test(a ?? '') && /\/s/.test(e ?? '')) {
            shotTaken = true;
            await shot(an, '78-analyst-file-progress-from-end-user');
            await shot(eu, '79-end-user-file-progress-sending');
          }
          return an.getByTestId('transfer-in').last().getAttribute('data-state');
        },
        { timeout: 180_000, interval: 200 },
      )
      .toBe('saved');
    await expect.poll(() => eu.getByTestId('transfer-out').last().getAttribute('data-state'), { timeout: 10_000 }).toBe('saved');
    // Progress moved on both sides, with speed and time left (recorded in the page: it may be quick).
    for (const texts of [[...seen.an, ...(await anTexts())], [...seen.eu, ...(await euTexts())]]) {
      expect(new Set(texts).size).toBeGreaterThanOrEqual(2);
      expect(texts.some((t) => /MB\/s, \d+ s left/.test(t))).toBe(true);
    }
    const d = await download;
    expect(d.suggestedFilename()).toBe('crash-log.bin');
    const saved = path.join(s.dir, 'analyst-got-crash-log.bin');
    await d.saveAs(saved);
    expect(crypto.createHash('sha256').update(fs.readFileSync(saved)).digest('hex')).toBe(want);
    expect(await an.getByTestId('transfer-in-state').last().textContent()).toBe('Downloaded as “crash-log.bin” (your browser\'s downloads). Its SHA-256 matched.');
    await shot(an, '80-analyst-file-downloaded');

    await expect
      .poll(() => fileRecords('crash-log.bin'), { timeout: 10_000 })
      .toEqual([
        ['offered', 'from_end_user', 40 * MiB, want],
        ['refused', 'from_end_user', 40 * MiB, want],
        ['offered', 'from_end_user', 40 * MiB, want],
        ['accepted', 'from_end_user', 40 * MiB, want],
        ['saved', 'from_end_user', 40 * MiB, want],
      ]);
    await eu.getByTestId('stop').click();
    await close();
  }, 400_000);

  it('the analyst cancels one in flight; taking the grant back stops the next at once', async () => {
    const { an, eu, close } = await session(`INC-V${Date.now() % 10000}`, 'From the end user only');
    const big = path.join(s.dir, 'disk-image.bin');
    fs.writeFileSync(big, crypto.randomBytes(100 * MiB));
    const send = eu.getByTestId('banner').getByTestId('send-file-input');
    let downloads = 0;
    an.on('download', () => downloads++);

    await send.setInputFiles(big);
    await an.getByTestId('file-offer').waitFor({ timeout: 30_000 });
    await an.getByRole('button', { name: 'Accept file' }).click();
    await an.getByTestId('transfer-in-cancel').waitFor({ timeout: 10_000 });
    await an.getByTestId('transfer-in-cancel').click();
    await expect.poll(() => eu.getByTestId('transfer-out').last().getAttribute('data-state'), { timeout: 10_000 }).toBe('cancelled');
    expect(await an.getByTestId('transfer-in').last().getAttribute('data-state')).toBe('cancelled');

    await send.setInputFiles(big);
    await an.getByTestId('file-offer').waitFor({ timeout: 30_000 });
    await an.getByRole('button', { name: 'Accept file' }).click();
    await an.getByTestId('transfer-in-cancel').waitFor({ timeout: 10_000 });
    await eu.getByTestId('files-off').click();
    await expect.poll(() => eu.getByTestId('transfer-out').last().getAttribute('data-state'), { timeout: 5000 }).toBe('cancelled');
    await expect.poll(() => an.getByTestId('transfer-in').last().getAttribute('data-state'), { timeout: 5000 }).toBe('cancelled');
    // The button goes with the grant: nothing more can leave this computer.
    expect(await eu.getByTestId('banner').getByTestId('send-file-input').count()).toBe(0);
    expect(downloads).toBe(0);
    await eu.getByTestId('stop').click();
    await close();
  }, 300_000);

  it('with files granted only to the end user, the banner has no "Send a file"', async () => {
    const { eu, close } = await session(`INC-W${Date.now() % 10000}`, 'To the end user only');
    await eu.getByTestId('files-on').waitFor({ timeout: 10_000 });
    expect(await eu.getByTestId('banner').getByTestId('send-file-input').count()).toBe(0);
    await eu.getByTestId('stop').click();
    await close();
  }, 120_000);
});
