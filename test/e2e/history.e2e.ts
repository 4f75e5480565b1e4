/**
 * Session history in real Chromium: a recorded session with control runs between the analyst's
 * viewer and the end user's real screen capture and ends with Stop; another analyst's request is
 * rejected. The first analyst's history shows their session (who, how long, how it ended in a
 * sentence, what was granted, that a recording exists) and nothing of the other's, however they
 * search; the auditor sees both, searches by the other analyst's name, filters by how it ended,
 * and plays the recording from its row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login } from '../../kit/broker.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { at200, axeSerious, shot } from './page-checks.js';

const SUITE = 'the app end to end: session history for the analyst (their own) and the auditor (everyone), with the recording';
const skip = skipWithout(SUITE, missingTools());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  beforeAll(async () => {
    s = await Stack.start();
  });
  afterAll(async () => s?.close());

  it('the analyst reads only their own sessions; the auditor reads all, searches, filters and plays the recording', { timeout: 240_000 }, async () => {
    const analyst = await s.user('analyst', 'internal', { displayName: 'Alice Ng' });
    const other = await s.user('analyst', 'internal', { displayName: 'Olga Berg' });
    const approver = await s.user('approver', 'internal', { displayName: 'Bob Ode' });
    const auditor = await s.user('auditor');
    const ticket = `INC-${Date.now() % 100000}`;
    const theirs = `CHG-${Date.now() % 100000}`;

    // The other analyst's request (through the API: she never opens the app here), rejected below in the approver's console.
    await login(other.user);
    const req = await other.user.api.post('/api/v1/sessions', { ticket: theirs, reason: 'Replace the VPN profile', capabilities: ['view', 'control'], duration_minutes: 15 });
    expect(req.status).toBe(200);

    // A session with control, recorded (policy requires it with control), ended by the end user's Stop.
    const an = await s.staffPage(await s.host('staff'));
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Printer driver will not install', control: true, minutes: 15 });
    const ap = await s.staffPage(await s.host('staff'));
    await signIn(ap.page, approver);
    await ap.page.getByTestId(`pending-${theirs}`).getByRole('button', { name: `Reject ${theirs}…` }).click();
    await ap.page.getByTestId(`pending-${theirs}`).getByLabel('Reason for rejecting').fill('Use the self-service page');
    await ap.page.getByTestId(`pending-${theirs}`).getByRole('button', { name: 'Reject', exact: true }).click();
    await expect.poll(() => ap.page.getByTestId(`pending-${theirs}`).count()).toBe(0);
    // The approver's card says who the end user will be: whoever the analyst gives the code to, who decides.
    expect(await ap.page.getByTestId(`pending-${ticket}`).getByTestId('pending-end-user').textContent()).toContain(`The person Alice Ng gives the join code to for ${ticket}`);
    await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    const eu = await s.endUserPage(await s.host('end_user'));
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 20_000 });
    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 10_000 }).toBe('You have control');
    await sleep(5000);
    await eu.page.getByTestId('stop').click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    // The approver's open history shows how it ended without a reload.
    await expect.poll(() => ap.page.getByTestId(`history-${ticket}`).textContent().catch(() => ''), { timeout: 25_000 }).toContain('The end user stopped it.');
    const session = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    await expect
      .poll(async () => (await s.broker.ctx.storage.db.selectFrom('recordings').select('state').where('session_id', '=', session.id).executeTakeFirst())?.state, { timeout: 20_000 })
      .toBe('finalised');

    // The analyst, back from the session: her own history, in sentences.
    await an.page.getByRole('button', { name: 'New request' }).click();
    await an.page.getByRole('heading', { name: 'Your session history' }).waitFor();
    const mine = an.page.getByTestId(`history-${ticket}`);
    await mine.waitFor();
    expect(await an.page.getByTestId(`history-${theirs}`).count()).toBe(0);
    // Searching for the other analyst's ticket finds nothing: the broker never sent it.
    await an.page.getByLabel('Search', { exact: true }).fill(theirs);
    await an.page.getByRole('button', { name: 'Show sessions' }).click();
    await an.page.getByTestId('history-none').waitFor();
    expect(await an.page.getByTestId('history-none').textContent()).toBe('No session matches.');
    // Showing all again also reads the rows afresh (the recording was still being closed when the list first loaded).
    await an.page.getByLabel('Search', { exact: true }).fill('');
    await an.page.getByRole('button', { name: 'Show sessions' }).click();
    await mine.waitFor();
    const row = (await mine.textContent())!;
    expect(row).toContain('Alice Ng');
    expect(row).toContain('approved by Bob Ode');
    expect(row).toContain('The end user stopped it.');
    expect(row).toMatch(/\d+ seconds|\d+ minutes?/);
    expect(row).toContain("see the user's screen, ask for control, chat");
    expect(row).toContain("asked for: see the user's screen, chat, ask for control");
    expect(row).toContain('Kept (an auditor can play it)');
    expect(row).toMatch(/device [A-Za-z0-9_-]{8}/);
    // No code reaches her screen.
    expect(row).not.toMatch(/user_stopped|finalised|ended\(/);
    await mine.scrollIntoViewIfNeeded();
    expect(await axeSerious(an.page)).toEqual([]);
    await shot(an.page, '85-analyst-session-history');

    // The auditor: everyone's, searched by name, filtered by how it ended, the recording played.
    const au = await s.staffPage(await s.host('staff'));
    await signIn(au.page, auditor);
    await au.page.getByRole('heading', { name: 'Session history' }).waitFor();
    await au.page.getByTestId(`history-${ticket}`).waitFor();
    await au.page.getByTestId(`history-${theirs}`).waitFor();
    expect(await au.page.getByTestId(`history-${theirs}`).textContent()).toContain('An approver rejected the request.');
    expect(await au.page.getByTestId(`history-${theirs}`).textContent()).toContain('nobody joined');
    await au.page.getByLabel('Search', { exact: true }).fill('olga berg');
    await au.page.getByRole('button', { name: 'Show sessions' }).click();
    await expect.poll(() => au.page.getByTestId('history-list').locator('tbody tr').count()).toBe(1);
    await au.page.getByTestId(`history-${theirs}`).waitFor();
    await au.page.getByLabel('Search', { exact: true }).fill('');
    await au.page.getByLabel('How it ended').selectOption({ label: 'The end user stopped it.' });
    await au.page.getByRole('button', { name: 'Show sessions' }).click();
    await expect.poll(() => au.page.getByTestId('history-list').locator('tbody tr').count()).toBe(1);
    const kept = au.page.getByTestId(`history-${ticket}`);
    await kept.waitFor();
    await kept.scrollIntoViewIfNeeded();
    expect(await axeSerious(au.page)).toEqual([]);
    await shot(au.page, '86-auditor-session-history-filtered');
    const zoomed = await at200(au.page, '87-auditor-session-history-200', ['Show sessions', `Play the recording of ${ticket}`]);
    expect(zoomed).toEqual({ horizontalScroll: false, clipped: [] });
    // And axe at that zoom, where each session is a block of labelled lines.
    const full = au.page.viewportSize()!;
    await au.page.setViewportSize({ width: full.width / 2, height: full.height / 2 });
    expect(await kept.evaluate((el) => getComputedStyle(el).display)).toBe('block');
    expect(await axeSerious(au.page)).toEqual([]);
    await au.page.setViewportSize(full);

    await kept.getByRole('button', { name: `Play the recording of ${ticket}` }).click();
    const video = au.page.getByTestId('player-video');
    await video.waitFor();
    await expect.poll(() => video.evaluate((v: HTMLVideoElement) => (Number.isFinite(v.duration) ? v.duration : 0)), { timeout: 15_000 }).toBeGreaterThan(3);
    expect(await axeSerious(au.page)).toEqual([]);
    await shot(au.page, '88-auditor-recording-from-history');
    await au.page.getByRole('button', { name: 'Back to the session history' }).click();
    await au.page.getByTestId('history-list').waitFor();
    // Watching it from the history is audited like watching it from Recordings.
    await s.broker.ctx.audit.flush();
    const viewed = await s.broker.ctx.storage.db.selectFrom('audit_events').select(['actor', 'session_id']).where('type', '=', 'recording.viewed').execute();
    expect(viewed).toEqual([{ actor: `account:${auditor.user.username}`, session_id: session.id }]);
  });
});
