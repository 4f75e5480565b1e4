/**
 * Every broker-supplied string on the end user's screens is rendered isolated (`<bdi>`): a name,
 * an organisation or a reason in a right-to-left script (legitimately: Hebrew, Arabic) cannot
 * reorder the words and punctuation around it, so the analyst's reason cannot make the consent
 * screen read differently from what the broker signed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: broker-supplied strings are isolated on the consent screen';
const skip = skipWithout(SUITE, missingTools());

const NAME = 'سارة الحداد';
const ORG = 'מחלקת מחשוב (IT)';
const REASON = 'התקנת מדפסת 42, then: approve everything';

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  let anHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start();
    euHost = await s.host('end_user');
    anHost = await s.host('staff');
  });
  afterAll(async () => s?.close());

  it('name, username, organisation, ticket, reason and the signing organisation each stand in their own isolate', async () => {
    const analyst = await s.user('analyst', 'vendor', { displayName: NAME, organisation: ORG });
    const approver = await s.user('approver');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: REASON });
    const ap = await s.staffPage(anHost);
    await signIn(ap.page, approver);
    await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 10_000 });
    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('heading', { level: 1 }).filter({ hasText: 'wants to see your screen' }).waitFor();

    // What each place shows, and which parts of it are isolated.
    const parts = await eu.page.evaluate(() => {
      const of = (sel: string) => {
        const el = document.querySelector(sel)!;
        return { text: el.textContent, isolated: Array.from(el.querySelectorAll('bdi'), (b) => b.textContent) };
      };
      return { heading: of('h1'), who: of('[data-testid="consent-who"]'), ticket: of('[data-testid="consent-ticket"]'), reason: of('[data-testid="consent-reason"]') };
    });
    expect(parts.heading).toEqual({ text: `${NAME} wants to see your screen`, isolated: [NAME] });
    expect(parts.who.isolated).toEqual([NAME, analyst.user.username, ORG]);
    expect(parts.who.text).toBe(`${NAME} (${analyst.user.username}), ${ORG}outside vendor`);
    expect(parts.ticket).toEqual({ text: ticket, isolated: [ticket] });
    expect(parts.reason).toEqual({ text: REASON, isolated: [REASON] });
    // Laid out in reading order: the right-to-left name does not pull the username to its left.
    const boxes = await eu.page.evaluate(() => Array.from(document.querySelectorAll('[data-testid="consent-who"] bdi'), (b) => b.getBoundingClientRect().left));
    expect(boxes[0]!).toBeLessThan(boxes[1]!);
    expect(boxes[1]!).toBeLessThan(boxes[2]!);
    // No broker string is left as bare text outside an isolate anywhere on the screen.
    const bare = await eu.page.evaluate((strings) => {
      const out: string[] = [];
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) if (!n.parentElement?.closest('bdi') && strings.some((x) => n.textContent?.includes(x))) out.push(n.textContent ?? '');
      return out;
    }, [NAME, ORG, REASON]);
    expect(bare).toEqual([]);
    expect(await axeSerious(eu.page)).toEqual([]);
    await shot(eu.page, '17-end-user-consent-rtl');
    await eu.page.getByRole('button', { name: 'Decline' }).click();
    await eu.page.getByTestId('end-screen').waitFor();
  });
});
