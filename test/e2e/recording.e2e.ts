/**
 * A recorded session through the app, in real Chromium under Xvfb: policy `required` for sessions
 * with control. The end user's page records the very track it shares (MediaRecorder, WebM) and
 * uploads each chunk with its session token and a proof from the device key in main; the broker
 * acks, so the session with control outlives the stall limit (30 s). After Stop the broker holds
 * the chunks (audit and data dir), and the CLI's evidence export and verify of it exit 0.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RECORDING_POLICY } from '../../common/recording.js';
import type { BrowserHost } from '../../main/browser-host/server.js';
import { ROOT, Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { clickAndType, shot } from './page-checks.js';

const SUITE = 'the app end to end: a session with control is recorded (policy required)';
const skip = skipWithout(SUITE, missingTools());
const BIN = path.join(ROOT, 'bin', 'chaperone-broker.mjs');

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  let euHost: BrowserHost;
  beforeAll(async () => {
    s = await Stack.start({ policy: { recordings: { ...DEFAULT_RECORDING_POLICY, with_control: 'required' } } });
    euHost = await s.host('end_user');
  });
  afterAll(async () => s?.close());

  it('chunks reach the broker while live, control survives past the stall limit, Stop sends the last chunk, the evidence verifies', { timeout: 240_000 }, async () => {
    const analyst = await s.user('analyst');
    const approver = await s.user('approver');
    const ticket = `INC-${Date.now() % 100000}`;
    const an = await s.staffPage(await s.host('staff'));
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket, reason: 'Recorded support session', control: true, minutes: 15 });
    const ap = await s.staffPage(await s.host('staff'));
    await signIn(ap.page, approver);
    await ap.page.getByTestId(`pending-${ticket}`).getByRole('button', { name: `Approve ${ticket}` }).click();
    await an.page.getByTestId('join-code').waitFor({ timeout: 10_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();

    const eu = await s.endUserPage(euHost);
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    expect(await eu.page.getByTestId('consent-recording').textContent()).toContain('If recording stops, control stops too.');
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 20_000 });
    expect(await eu.page.getByTestId('banner-recording').textContent()).toBe('● Recorded');
    const session = (await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.ticket === ticket)!;
    const activeAt = Date.now();

    const events = async (type: string) => {
      await s.broker.ctx.audit.flush();
      const rows = await s.broker.ctx.storage.db.selectFrom('audit_events').selectAll().where('session_id', '=', session.id).where('type', '=', type).orderBy('seq').execute();
      return rows.map((r) => JSON.parse(String(r.meta)) as Record<string, unknown>);
    };
    // The first chunk arrives about one timeslice (2 s) after the recorder started.
    await expect.poll(async () => (await events('recording.chunk')).length, { timeout: 20_000, interval: 500 }).toBeGreaterThan(0);

    await an.page.getByTestId('request-control').click();
    await eu.page.getByTestId('control-prompt').waitFor();
    await eu.page.getByRole('button', { name: 'Yes, the same code: allow control' }).click();
    await expect.poll(() => an.page.getByTestId('viewer-state').textContent(), { timeout: 10_000 }).toBe('You have control');

    // Past the limit at which an unrecorded session would have ended (stall_end_seconds, 30 s).
    const limit = DEFAULT_RECORDING_POLICY.stall_end_seconds * 1000 + 5000;
    await new Promise((r) => setTimeout(r, Math.max(0, activeAt + limit - Date.now())));
    expect(await an.page.getByTestId('viewer-state').textContent()).toBe('You have control');
    expect((await s.broker.ctx.sessions.list({ limit: 10 })).find((x) => x.id === session.id)).toMatchObject({ state: 'active' });
    expect(await events('recording.stalled')).toEqual([]);
    // The analyst clicks and types: main's gate writes it into the transcript (lengths, no letters).
    await clickAndType(s.target, an.page, '#i', 'abc');
    await expect.poll(async () => (await s.target.state()).value, { timeout: 5000 }).toContain('abc');
    await shot(eu.page, '60-end-user-recorded-control');
    const liveChunks = (await events('recording.chunk')).length;
    expect(liveChunks).toBeGreaterThanOrEqual(10);

    await eu.page.getByTestId('stop').click();
    await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
    expect(await eu.page.getByTestId('end-reason').textContent()).toBe('You stopped the session.');
    await expect.poll(async () => (await events('recording.finalised')).length, { timeout: 20_000 }).toBe(1);

    // Every chunk in order, none refused; the last one was sent on Stop, before the end.
    const chunks = (await events('recording.chunk')) as { seq: number; bytes: number; sha256: string }[];
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(chunks.length).toBeGreaterThan(liveChunks);
    expect(await events('recording.chunk_refused')).toEqual([]);
    const dir = path.join(s.broker.dataDir, 'recordings', session.id);
    const files = fs.readdirSync(dir).filter((f) => f.startsWith('chunk-'));
    expect(files).toHaveLength(chunks.length);
    // The first chunk is a WebM file: the EBML header MediaRecorder writes.
    const first = fs.readFileSync(path.join(dir, files.sort()[0]!));
    expect([...first.subarray(0, 4)]).toEqual([0x1a, 0x45, 0xdf, 0xa3]);
    // The playable file rebuilt at finalisation is a WebM too, with the duration written in.
    const playable = fs.readFileSync(path.join(dir, 'recording.webm'));
    expect([...playable.subarray(0, 4)]).toEqual([0x1a, 0x45, 0xdf, 0xa3]);
    const bytes = chunks.reduce((n, c) => n + c.bytes, 0);
    console.log(`recording e2e: ${chunks.length} chunks, ${bytes} bytes, ${Math.round((bytes * 8) / ((Date.now() - activeAt) / 1000) / 1000)} kbit/s over the session`);

    // The transcript batches from main's input gate: control granted, the click, the typing as lengths.
    const batches = await events('transcript.batch');
    expect(batches.length).toBeGreaterThan(0);
    const lines = fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('transcript'))
      .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
    const kinds = lines.flatMap((l) => (JSON.parse(l) as { entries: { kind: string; count?: number; codes?: unknown; text?: unknown }[] }).entries);
    // Printable keys reach the gate as text (the viewer sends them so): their lengths, not the letters.
    expect(kinds.map((e) => e.kind)).toEqual(expect.arrayContaining(['control_granted', 'click', 'text']));
    expect(kinds.filter((e) => e.kind === 'text').reduce((n, e) => n + (e.count ?? 0), 0)).toBe(3);
    expect(kinds.some((e) => e.codes !== undefined || e.text !== undefined)).toBe(false);

    const out = path.join(s.broker.dataDir, 'evidence.tar');
    const env = { ...process.env, CHAPERONE_LOG_LEVEL: 'silent' };
    const ex = spawnSync(process.execPath, [BIN, 'evidence', 'export', '--session', session.id, '--out', out, '--data-dir', s.broker.dataDir], { env, encoding: 'utf8', timeout: 60_000 });
    expect(ex.status, ex.stderr).toBe(0);
    const ok = spawnSync(process.execPath, [BIN, 'evidence', 'verify', out], { env, encoding: 'utf8', timeout: 60_000 });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^intact: session /);
  });
});
