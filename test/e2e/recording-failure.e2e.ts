/**
 * The end user's recorder fails, in real Chromium under Xvfb with policy `required` (no fake
 * recorder). The recorder cannot start (this Chromium is made to report no WebM it can record):
 * nothing is shared, the end user reads why, and the broker, hearing no chunk, ends the session as
 * recording_failed so the analyst reads why too. The recorder dies mid-session (its own track
 * ends while the screen is still shared): chunks stop, the broker ends the session as
 * recording_failed within its stall limit and both people read a plain sentence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RECORDING_POLICY } from '../../common/recording.js';
import { ANALYST_END_TEXT, END_REASON_TEXT } from '../../renderer/app/end-reasons.js';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';

const SUITE = "the app end to end: the end user's recorder fails under policy required";
const skip = skipWithout(SUITE, missingTools());
const STALL_END_S = 8;

/** Before the app's code: lets the test reach the recorder's MediaRecorder, or makes WebM unrecordable. */
const RECORDER_HANDLE = `(() => {
  const R = window.MediaRecorder;
  window.__recorders = [];
  window.MediaRecorder = class extends R {
    static isTypeSupported(t) { return window.__noWebm ? false : R.isTypeSupported(t); }
    constructor(...a) { super(...a); window.__recorders.push(this); }
  };
})();`;

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start({ policy: { recordings: { ...DEFAULT_RECORDING_POLICY, view_only: 'required', stall_suspend_seconds: 3, stall_end_seconds: STALL_END_S } } });
    euHost = await s.host('end_user');
  });
  afterAll(async () => s?.close());

  async function join(ticket: string, noWebm: boolean) {
    const analyst = await s.user('analyst');
    const an = await s.staffPage(await s.host('staff'));
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Recorded support session' });
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    const eu = await s.endUserPage(euHost);
    await eu.page.context().addInitScript(RECORDER_HANDLE);
    await eu.page.reload();
    await eu.page.evaluate(`window.__noWebm = ${noWebm}`);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    const session = async () => (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)!;
    return { an, eu, session };
  }

  it('the recorder cannot start: nothing is shared, the end user is told why, the session ends as recording_failed and the analyst is told why', { timeout: 120_000 }, async () => {
    const { an, eu, session } = await join(`INC-NOREC-${Date.now() % 100000}`, true);
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    expect(await eu.page.getByTestId('end-screen').textContent()).toContain('This session must be recorded, and recording did not start here');
    expect(await eu.page.getByTestId('end-screen').textContent()).toContain('Nothing was shared.');
    await shot(eu.page, '61-end-user-recorder-did-not-start');
    expect(await axeSerious(eu.page)).toEqual([]);
    // The app tells the broker at once (POST .../stop): well before the stall limit (8 s) could end it.
    await expect.poll(async () => (await session()).state, { timeout: 5000 }).toBe('ended');
    expect((await session()).end_reason).toBe('recording_failed');
    await expect.poll(() => an.page.getByTestId('end-reason').textContent(), { timeout: 10_000 }).toBe(ANALYST_END_TEXT.recording_failed);
    await shot(an.page, '62-analyst-recording-failed');
    expect(await axeSerious(an.page)).toEqual([]);
    await s.broker.ctx.audit.flush();
    const chunks = await s.broker.ctx.storage.db.selectFrom('audit_events').select('type').where('session_id', '=', (await session()).id).where('type', '=', 'recording.chunk').execute();
    expect(chunks).toEqual([]);
  });

  it("the recorder's track ends mid-session: chunks stop, the session ends as recording_failed, both people read why", { timeout: 120_000 }, async () => {
    const { an, eu, session } = await join(`INC-RECDIES-${Date.now() % 100000}`, false);
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 20_000 });
    const id = (await session()).id;
    const chunkCount = async () => {
      await s.broker.ctx.audit.flush();
      return (await s.broker.ctx.storage.db.selectFrom('audit_events').select('type').where('session_id', '=', id).where('type', '=', 'recording.chunk').execute()).length;
    };
    await expect.poll(chunkCount, { timeout: 15_000, interval: 500 }).toBeGreaterThan(0);
    // The recorder's own track (a clone of the shared one) ends: the screen stays shared, the recording stops.
    await eu.page.evaluate(`window.__recorders.forEach((r) => r.stream.getTracks().forEach((t) => t.stop()))`);
    await eu.page.getByTestId('end-screen').waitFor({ timeout: (STALL_END_S + 10) * 1000 });
    expect(await eu.page.getByTestId('end-reason').textContent()).toBe(END_REASON_TEXT.recording_failed);
    await shot(eu.page, '63-end-user-recording-failed');
    expect(await axeSerious(eu.page)).toEqual([]);
    await expect.poll(() => an.page.getByTestId('end-reason').textContent(), { timeout: 15_000 }).toBe(ANALYST_END_TEXT.recording_failed);
    expect((await session()).end_reason).toBe('recording_failed');
  });
});
