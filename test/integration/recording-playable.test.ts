import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Decoder } from 'ts-ebml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { CHROMIUM_ARGS } from '../../kit/e2e-stack.js';
import { activeSession } from '../../kit/lifecycle.js';
import { uploadChunk } from '../../kit/recording.js';
import { CHROMIUM_PATH, missingDisplayTools } from '../../kit/xvfb.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { frameAt, recordColours, type ColourStep } from '../helpers/webm-sample.js';

const SUITE = 'the playable recording rebuilt at finalisation, from real MediaRecorder chunks';
const skip = skipWithout(SUITE, missingDisplayTools({ chromium: true }).filter((m) => m.includes('chromium')));
const REQUIRED = { with_control: 'required', view_only: 'best_effort', stall_suspend_seconds: 10, stall_end_seconds: 30, retention_days: 365, quota_mb: 1024 } as const;
const STEPS: ColourStep[] = [
  { fromMs: 0, rgb: [220, 30, 30] },
  { fromMs: 2500, rgb: [30, 30, 220] },
  { fromMs: 5000, rgb: [30, 200, 30] },
];

const near = (a: readonly number[], b: readonly number[]): boolean => a.every((v, i) => Math.abs(v - b[i]!) < 40);

/**
 * Chromium's MediaRecorder writes a WebM without duration or cues. The broker joins the chunks at
 * the end and rewrites the metadata; the file must start with the EBML header, carry a Duration
 * and Cues, and Chromium must seek in it and show the frame of that moment.
 */
describe.skipIf(skip)(SUITE, () => {
  let browser: Browser;
  let page: Page;
  let b: TestBroker | undefined;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage();
  });
  afterAll(async () => browser?.close());
  afterEach(async () => {
    await b?.destroy();
    b = undefined;
  });

  it.each([
    ['SimpleBlocks (an opaque screen)', false],
    ['BlockGroups (a track with alpha)', true],
  ])('%s: recording.webm starts with the EBML header, has Duration and Cues, and seeks to the frame of that moment', { timeout: 60_000 }, async (_name, alpha) => {
    const chunks = await recordColours(page, STEPS, 7000, { alpha });
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    b = await startTestBroker('sqlite', { policy: { recordings: REQUIRED } });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const ticket = `INC-${Date.now() % 1_000_000}`;
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver, ticket });
    for (const [seq, c] of chunks.entries()) expect((await uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, seq, c)).status).toBe(200);
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    const file = path.join(b.dataDir, 'recordings', s.id, 'recording.webm');
    await expect.poll(() => fs.existsSync(file) && fs.existsSync(path.join(b!.dataDir, 'recordings', s.id, 'manifest.jws')), { timeout: 10_000 }).toBe(true);

    const webm = fs.readFileSync(file);
    expect(webm.subarray(0, 4).toString('hex')).toBe('1a45dfa3');
    const els = new Decoder().decode(webm.buffer.slice(webm.byteOffset, webm.byteOffset + webm.byteLength) as ArrayBuffer);
    const duration = els.find((e) => e.name === 'Duration');
    expect(duration && duration.type === 'f' ? duration.value : 0).toBeGreaterThan(6000);
    expect(els.filter((e) => e.name === 'CuePoint' && e.type === 'm' && !e.isEnd).length).toBeGreaterThan(0);
    // The rebuilt file still holds every frame: the chunks follow the new metadata unchanged.
    expect(webm.length).toBeGreaterThan(chunks.reduce((n, c) => n + c.length, 0) - 200);

    // Chromium knows the length before playing and shows the colour the canvas had at each moment.
    const red = await frameAt(page, webm, 1.2);
    expect(red.duration).toBeGreaterThan(6);
    expect(red.seekableEnd).toBeGreaterThan(6);
    expect(near(red.rgb, STEPS[0]!.rgb), `at 1.2 s: ${red.rgb}`).toBe(true);
    const green = await frameAt(page, webm, 6.2);
    expect(near(green.rgb, STEPS[2]!.rgb), `at 6.2 s: ${green.rgb}`).toBe(true);
    const blue = await frameAt(page, webm, 3.7);
    expect(near(blue.rgb, STEPS[1]!.rgb), `at 3.7 s: ${blue.rgb}`).toBe(true);
    if (alpha) return;

    // The console's routes: the list, a playback ticket (audited), the file by range, the markers.
    const auditor = await createUser(b, 'carol', ['auditor']);
    const list = await auditor.api.call('GET', `/api/v1/recordings?analyst=alice&ticket=${encodeURIComponent(ticket)}`);
    expect(list.status).toBe(200);
    expect(list.body.recordings).toEqual([expect.objectContaining({ session_id: s.id, analyst: 'alice', state: 'finalised', end_reason: 'completed', playable: true, bytes: chunks.reduce((n, c) => n + c.length, 0) })]);
    expect(list.body.recordings[0].duration_ms).toBeGreaterThan(6000);
    expect((await auditor.api.call('GET', '/api/v1/recordings?analyst=nobody')).body.recordings).toEqual([]);
    // The date filters are on when the session was requested.
    expect((await auditor.api.call('GET', `/api/v1/recordings?from=${Date.now() + 60_000}`)).body.recordings).toEqual([]);
    expect((await auditor.api.call('GET', `/api/v1/recordings?to=${Date.now() - 3_600_000}`)).body.recordings).toEqual([]);
    expect((await auditor.api.call('GET', `/api/v1/recordings?from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`)).body.recordings).toHaveLength(1);
    expect((await analyst.api.call('GET', '/api/v1/recordings')).status).toBe(403);
    expect((await analyst.api.call('POST', `/api/v1/sessions/${s.id}/recording/playback`, {})).status).toBe(403);

    const t = await auditor.api.call('POST', `/api/v1/sessions/${s.id}/recording/playback`, {});
    expect(t.status).toBe(200);
    await b.ctx.audit.flush();
    const viewed = await b.ctx.storage.db.selectFrom('audit_events').select(['actor', 'session_id']).where('type', '=', 'recording.viewed').execute();
    expect(viewed).toEqual([{ actor: 'account:carol', session_id: s.id }]);
    const whole = await fetch(b.url + t.body.url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await whole.arrayBuffer()).equals(webm)).toBe(true);
    const part = await fetch(b.url + t.body.url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${webm.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(webm.subarray(100, 200))).toBe(true);
    expect((await fetch(b.url + t.body.url, { headers: { range: `bytes=${webm.length}-` } })).status).toBe(416);
    // Without the ticket, with another session's id, or with a changed byte: refused.
    expect((await fetch(`${b.url}/api/v1/sessions/${s.id}/recording?ticket=x`)).status).toBe(401);
    const other = crypto.randomUUID();
    expect((await fetch(`${b.url}/api/v1/sessions/${other}/recording?${new URL(b.url + t.body.url).searchParams}`)).status).toBe(401);
    // A character well inside the signature (the last one carries spare bits that decode alike).
    const at = t.body.url.length - 10;
    const tampered = t.body.url.slice(0, at) + (t.body.url[at] === 'A' ? 'B' : 'A') + t.body.url.slice(at + 1);
    expect((await fetch(b.url + tampered)).status).toBe(401);

    const markers = await auditor.api.call('GET', `/api/v1/sessions/${s.id}/recording/markers`);
    expect(markers.status).toBe(200);
    expect(markers.body).toEqual({ markers: [] });
  });
});
