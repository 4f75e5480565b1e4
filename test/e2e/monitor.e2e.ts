/**
 * Monitored sessions through the app, in real Chromium under Xvfb with three browsers: the end
 * user (headed, capturing the X screen, injecting with XTEST), the analyst and a supervisor. The
 * supervisor's picture is the end user's recording relayed by the broker (Media Source
 * Extensions in the watcher's page), so the colour set on the X screen must show there within
 * the 3 s. Suspend must hold on the end user's side: the analyst's page keeps sending
 * keys, and the end user's input gate is what drops them. Then the four-eyes rule for a vendor.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RECORDING_POLICY } from '../../common/recording.js';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { H, ROOT_POINT, Stack, W, missingTools, requestSession, signIn, xsetroot, type Person } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, clickAndType, colourShownAfter, shot } from './page-checks.js';
import type { Page } from 'playwright-core';

const SUITE = 'the app end to end: supervisors watch and moderate live sessions';
const skip = skipWithout(SUITE, missingTools());

const ROOT = [ROOT_POINT.x / W, ROOT_POINT.y / H] as const;

/** Analyst asks (with control), approver approves, end user consents: returns the pages, in the session. */
async function liveSession(s: Stack, euHost: BrowserHost, analyst: Person, approver: Person, ticket: string) {
  const an = await s.staffPage(await s.host('staff'));
  await signIn(an.page, analyst);
  await requestSession(an.page, { ticket, reason: 'Printer queue stuck', control: true, minutes: 15 });
  const ap = await s.staffPage(await s.host('staff'));
  await signIn(ap.page, approver);
  await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
  await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
  const code = (await an.page.getByTestId('join-code').textContent())!.trim();
  const eu = await s.endUserPage(euHost);
  await eu.page.getByLabel('Join code').fill(code);
  await eu.page.getByRole('button', { name: 'Continue' }).click();
  await eu.page.getByTestId('consent-watchers').waitFor();
  const consentWatchers = (await eu.page.getByTestId('consent-watchers').textContent()) ?? '';
  await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
  await an.page.getByTestId('viewer-sas').waitFor({ timeout: 20_000 });
  await expect.poll(() => an.page.getByTestId('remote-video').evaluate((v) => (v as HTMLVideoElement).videoWidth), { timeout: 20_000 }).toBeGreaterThan(0);
  return { an, ap, eu, consentWatchers };
}

async function allowControl(an: Page, eu: Page): Promise<void> {
  await an.getByTestId('request-control').click();
  await eu.getByTestId('control-prompt').waitFor();
  const yes = eu.getByRole('button', { name: 'Yes, the same code: allow control' });
  await (await yes.count() ? yes : eu.getByRole('button', { name: 'Allow' })).click();
  await expect.poll(() => an.getByTestId('viewer-state').textContent(), { timeout: 10_000 }).toBe('You have control');
}

function videoState(page: Page): Promise<string> {
  return page.getByTestId('watch-video').evaluate((v) => {
    const e = v as HTMLVideoElement;
    const b: number[][] = [];
    for (let i = 0; i < e.buffered.length; i++) b.push([e.buffered.start(i), e.buffered.end(i)]);
    return JSON.stringify({ readyState: e.readyState, seeking: e.seeking, paused: e.paused, rate: e.playbackRate, t: e.currentTime, buffered: b, error: e.error?.message ?? null });
  });
}

async function watch(s: Stack, supervisor: Person, ticket: string) {
  const sv = await s.staffPage(await s.host('staff'));
  await signIn(sv.page, supervisor);
  await sv.page.getByTestId(`live-${ticket}`).waitFor({ timeout: 10_000 });
  return sv;
}

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start({
      policy: {
        recordings: { ...DEFAULT_RECORDING_POLICY, with_control: 'required', view_only: 'required' },
        watchers_allowed: true,
        require_watcher: { count: 1, roles: ['supervisor', 'admin'], on_leave: 'end', grace_s: 8, for: { analyst_kinds: ['vendor'], ticket_prefixes: [] } },
      },
    });
  });
  beforeEach(async () => {
    euHost = await s.host('end_user');
  });
  afterEach(async () => {
    // A test that failed half-way leaves its end user's window sharing: it goes before the next.
    for (const b of s.browsers.splice(2)) await b.close().catch(() => undefined);
  });
  afterAll(async () => s?.close());

  it('the supervisor watches the X screen within 3 s, everyone sees the watcher, suspend locks XTEST input and resume unlocks it, a note reaches the analyst, the watcher ends both', { timeout: 300_000 }, async () => {
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const supervisor = await s.user('supervisor', 'internal', { displayName: 'Sam Supervisor', organisation: 'Acme IT' });
    const ticket = `INC-${Date.now() % 100000}`;
    await s.target.reset();
    const { an, eu, consentWatchers } = await liveSession(s, euHost, analyst, approver, ticket);
    expect(consentWatchers).toContain('may watch this session');
    // Nobody watches yet: the banner says nothing about watchers.
    expect(await eu.page.getByTestId('banner-watchers').count()).toBe(0);

    const sv = await watch(s, supervisor, ticket);
    const row = sv.page.getByTestId(`live-${ticket}`);
    expect(await row.textContent()).toContain(analyst.name);
    expect(await row.getByTestId('live-watchers').textContent()).toBe('Nobody');
    await shot(sv.page, '90-supervisor-live-screen');
    expect(await axeSerious(sv.page)).toEqual([]);
    await row.getByRole('button', { name: `Watch ${ticket}` }).click();
    await sv.page.getByTestId('watcher-view').waitFor();

    // The end user's banner and the analyst's viewer name the watcher the moment they join.
    await expect.poll(() => eu.page.getByTestId('banner-watchers').textContent().catch(() => ''), { timeout: 10_000 }).toContain('Sam Supervisor');
    await expect.poll(() => an.page.getByTestId('viewer-present').textContent().catch(() => ''), { timeout: 10_000 }).toContain('Sam Supervisor');
    expect(await sv.page.getByTestId('watch-present').textContent()).toContain(analyst.name);

    // The picture: the X screen's colour on the watcher's video, from the relayed recording.
    await expect.poll(() => sv.page.getByTestId('watch-video').evaluate((v) => (v as HTMLVideoElement).videoWidth), { timeout: 15_000 }).toBeGreaterThan(0);
    // Shown to the supervisor (not only decoded): the waiting line is gone, the video visible.
    await expect.poll(() => sv.page.getByTestId('watch-waiting').count(), { timeout: 10_000 }).toBe(0);
    expect(await sv.page.getByTestId('watch-video').evaluate((v) => getComputedStyle(v).visibility)).toBe('visible');
    // Timed as the app benchmark times it: from just before xsetroot to the first video frame
    // on the watcher's page with the new colour (a 1x1 sample at every frame, page's clock).
    const ms: number[] = [];
    for (const [hex, rgb] of [['#ff0000', [255, 0, 0]], ['#00ff00', [0, 255, 0]], ['#0000ff', [0, 0, 255]], ['#ffff00', [255, 255, 0]], ['#00ffff', [0, 255, 255]]] as const) {
      const at = await colourShownAfter(sv.page, 'watch-video', { x: ROOT[0], y: ROOT[1] }, [...rgb], () => xsetroot(s.xvfb.display, hex), 10_000);
      if (at === null) {
        await s.broker.ctx.audit.flush();
        const chunks = await s.broker.ctx.storage.db.selectFrom('audit_events').select('meta').where('type', '=', 'recording.chunk').orderBy('seq', 'desc').limit(3).execute();
        console.log(`watch video when ${hex} did not show: ${await videoState(sv.page)}; ${await sv.page.getByTestId('watcher-view').innerText()}; newest chunks ${chunks.map((c) => String(c.meta)).join(' ')}`);
      }
      expect(at).not.toBeNull();
      ms.push(at!);
    }
    console.log(`monitor e2e: X screen to watcher's pixel ${ms.map(Math.round).join(', ')} ms`);
    // The goal: p50 at most 3 s.
    expect([...ms].sort((a, b) => a - b)[2]!).toBeLessThanOrEqual(3000);
    await shot(eu.page, '92-end-user-banner-with-watcher', { window: true });

    // Control, then suspend: the analyst's keys still go out, the end user's gate drops them.
    await allowControl(an.page, eu.page);
    await clickAndType(s.target, an.page, '#i', 'ab');
    await expect.poll(async () => (await s.target.state()).value, { timeout: 5000 }).toBe('ab');
    await sv.page.getByLabel('Why (optional; the end user and the analyst read it)').fill('Wrong server');
    await sv.page.getByTestId('suspend-control').click();
    await expect.poll(() => eu.page.getByTestId('control-suspended').textContent().catch(() => ''), { timeout: 5000 }).toContain('Sam Supervisor suspended control');
    expect(await eu.page.getByTestId('control-suspended').textContent()).toContain('Wrong server');
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 5000 }).toBe('Control suspended by a watcher');
    expect(await an.page.getByTestId('viewer-suspended').textContent()).toContain('Wrong server');
    await sv.page.getByTestId('resume-control').waitFor();
    await shot(sv.page, '91-supervisor-watching');
    expect(await axeSerious(sv.page)).toEqual([]);
    await clickAndType(s.target, an.page, '#i', 'cd');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await s.target.state()).value).toBe('ab');
    // The end user's own transcript (written by main on that computer, uploaded every few seconds) has them too.
    const sid = (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)!.id;
    await expect
      .poll(async () => (await s.broker.ctx.playback.markers(sid)).map((m) => m.label), { timeout: 15_000 })
      .toEqual(expect.arrayContaining(['A watcher joined: Sam Supervisor', 'Control suspended by a watcher']));

    await sv.page.getByTestId('resume-control').click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 5000 }).toBe('You have control');
    expect(await eu.page.getByTestId('control-suspended').count()).toBe(0);
    await clickAndType(s.target, an.page, '#i', 'ef');
    await expect.poll(async () => (await s.target.state()).value, { timeout: 5000 }).toBe('abef');

    // A note reaches the analyst, and only the analyst.
    await sv.page.getByLabel(`Note to ${analyst.name} (only the analyst sees it)`).fill('Check the spooler first');
    await sv.page.getByTestId('send-note').click();
    await expect.poll(() => an.page.getByTestId('viewer-notes').textContent().catch(() => ''), { timeout: 5000 }).toContain('Check the spooler first');
    expect(await eu.page.content()).not.toContain('Check the spooler first');
    await shot(an.page, '93-analyst-watched-with-note', { window: true });

    // The watcher ends the session: both sides see it, with the reason.
    await sv.page.getByTestId('watch-end').click();
    await sv.page.getByLabel('Reason (optional)').fill('Not approved for this server');
    await sv.page.getByRole('button', { name: `End ${ticket} now` }).last().click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    await an.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    expect(await eu.page.getByTestId('end-note').textContent()).toContain('Not approved for this server');
    await sv.page.getByTestId('watch-ended').waitFor({ timeout: 10_000 });

    await s.broker.ctx.audit.flush();
    const session = (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)!;
    const types = (await s.broker.ctx.storage.db.selectFrom('audit_events').select('type').where('session_id', '=', session.id).execute()).map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(['watch.joined', 'moderation.control_suspended', 'moderation.control_resumed', 'moderation.note', 'moderation.ended']));
  });

  it('a vendor session under require_watcher: control refused until a watcher joins, suspended the moment the watcher closes the page, ended after the grace', { timeout: 300_000 }, async () => {
    const vendor = await s.user('analyst', 'vendor', { displayName: 'Vic Vendor', organisation: 'Printers Ltd' });
    const approver = await s.user('approver');
    const supervisor = await s.user('supervisor', 'internal', { displayName: 'Sue Supervisor' });
    const ticket = `CHG-${Date.now() % 100000}`;
    await s.target.reset();
    const { an, eu, consentWatchers } = await liveSession(s, euHost, vendor, approver, ticket);
    expect(consentWatchers).toContain('must watch this session before');
    // The screen shows, control cannot be asked for: the analyst reads why.
    expect(await an.page.getByTestId('request-control').isDisabled()).toBe(true);
    expect(await an.page.getByTestId('viewer-watch-wait').textContent()).toContain('before you can ask for control');

    const sv = await watch(s, supervisor, ticket);
    expect(await sv.page.getByTestId(`live-${ticket}`).getByTestId('live-watchers').textContent()).toContain('needs 1 more');
    await sv.page.getByTestId(`live-${ticket}`).getByRole('button', { name: `Watch ${ticket}` }).click();
    // The watcher counts once its page has loaded and its watch socket joined: a loaded CI machine
    // with four Chromium pages took longer than 10 s for that once, so the bound is generous.
    await expect.poll(() => an.page.getByTestId('request-control').isDisabled(), { timeout: 25_000 }).toBe(false);
    expect(await an.page.getByTestId('viewer-watch-wait').count()).toBe(0);
    await allowControl(an.page, eu.page);
    await clickAndType(s.target, an.page, '#i', 'ok');
    await expect.poll(async () => (await s.target.state()).value, { timeout: 5000 }).toBe('ok');

    // The watcher's page closes: control is suspended at once, the end user is told why.
    const closedAt = Date.now();
    await sv.context.close();
    await expect.poll(() => eu.page.getByTestId('control-suspended').textContent().catch(() => ''), { timeout: 5000 }).toContain('the watcher this session needs has left');
    console.log(`monitor e2e: watcher's page closed to the end user's suspension ${Date.now() - closedAt} ms`);
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 5000 }).toBe('Control suspended by a watcher');
    expect(await eu.page.getByTestId('banner-watchers').count()).toBe(0);
    await clickAndType(s.target, an.page, '#i', 'no');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await s.target.state()).value).toBe('ok');

    // Nobody returns within the grace (8 s): the session ends on both sides.
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 20_000 });
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(7000);
    expect(await eu.page.getByTestId('end-screen').getAttribute('data-reason')).toBe('watcher_absent');
    await an.page.getByTestId('end-screen').waitFor({ timeout: 10_000 });
  });
});
