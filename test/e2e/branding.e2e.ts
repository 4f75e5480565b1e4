/**
 * Branding in real Chromium: broker.json names the organisation "Acme IT Helpdesk" with a logo
 * and a help-desk line. The end user reads that name and line on the code entry, the consent
 * screen (from the signed offer, with the logo whose hash the offer carries), the banner's help
 * and the ended screen, and the window's title; nowhere "Chaperone".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { solidPng } from '../helpers/png.js';
import { at200, axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: the organisation named by broker.json branding on every end-user screen';
const skip = skipWithout(SUITE, missingTools());
const NAME = 'Acme IT Helpdesk';
const HELP = 'Questions? Call the helpdesk on 555-0100, weekdays 8 to 18.';

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'branding-e2e-'));
    const logo = path.join(dir, 'acme.png');
    fs.writeFileSync(logo, solidPng(96, 40, [200, 30, 30]));
    s = await Stack.start({ file: { branding: { name: NAME, logo, help_line: HELP } } });
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('code entry, consent, banner help and the ended screen say who the organisation is and how to reach its help desk', { timeout: 180_000 }, async () => {
    const analyst = await s.user('analyst', 'internal', { displayName: 'Alice Ng' });
    const eu = await s.endUserPage(await s.host('end_user'));
    const brand = eu.page.getByTestId('brand-name');
    await expect.poll(() => brand.textContent()).toBe(NAME);
    expect(await eu.page.getByTestId('help-line').textContent()).toBe(HELP);
    expect(await eu.page.getByRole('heading', { level: 1 }).textContent()).toBe(`Get help from ${NAME}`);
    await expect.poll(() => eu.page.title()).toBe(`${NAME} remote support`);
    // The logo is shown, decoded from the bytes whose hash the broker published.
    const logoShown = () => eu.page.getByTestId('brand-logo').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 96);
    await expect.poll(logoShown).toBe(true);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '89-end-user-code-entry-branded', { window: true });

    const an = await s.staffPage(await s.host('staff'));
    await signIn(an.page, analyst);
    const ticket = `INC-${Date.now() % 100000}`;
    await requestSession(an.page, { ticket, reason: 'Outlook keeps asking for the password' });
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('heading', { name: 'Alice Ng wants to see your screen' }).waitFor();
    // On the consent screen the name, line and logo come from the signed offer.
    expect(await brand.textContent()).toBe(NAME);
    expect(await eu.page.getByTestId('help-line').textContent()).toBe(HELP);
    await expect.poll(logoShown).toBe(true);
    const consentText = (await eu.page.locator('main').textContent())!;
    expect(consentText).not.toContain('Chaperone');
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '90-end-user-consent-branded', { window: true });
    const zoomed = await at200(eu.page, '91-end-user-consent-branded-200', ['Accept and share my screen', 'Decline']);
    expect(zoomed).toEqual({ horizontalScroll: false, clipped: [] });

    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 20_000 });
    await eu.page.getByRole('button', { name: 'Help' }).click();
    const help = eu.page.getByTestId('banner-help');
    await help.waitFor();
    expect(await help.getByTestId('help-line').textContent()).toBe(HELP);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '92-end-user-banner-help-branded', { window: true });

    await eu.page.getByTestId('stop').click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    expect(await eu.page.getByTestId('end-screen').getByTestId('brand-name').textContent()).toBe(NAME);
    expect(await eu.page.getByTestId('end-screen').getByTestId('help-line').textContent()).toBe(HELP);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '93-end-user-ended-branded', { window: true });
  });
});
