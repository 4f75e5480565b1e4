/**
 * Monitor benchmark (`npm run bench -- monitor [--quick]`), writes bench/results/monitor.json.
 *
 * The app's own parts, as the e2e tests run them (kit/e2e-stack.ts): the broker on loopback with
 * recording required, the end user's Chromium headed on Xvfb sharing the real screen and
 * recording it, an analyst's viewer, and three supervisors' pages watching the session through
 * the broker's relay of the recording chunks (Media Source Extensions, renderer/watch/).
 *
 * - watch_latency_p50/p99_ms: the X root window's colour changed with xsetroot to the first
 *   sample of that colour on a watcher's <video> (bench/lib/change-to-pixel.ts, the probe of the
 *   app bench), with the analyst's WebRTC viewer measured the same way in the same run beside it.
 * - watch_join_to_first_frame_p50_ms: a supervisor's click on Watch to the first decoded frame
 *   shown on its page, over repeated joins.
 * - sharer_upload_kbps_without_watchers / _with_3_watchers: everything the end user's page sends
 *   (peer connection transport bytes, request bodies such as recording chunks, WebSocket frames;
 *   bench/lib/upload-probe.ts) over windows of the same screen activity, alternating without and
 *   with three watchers so drifting machine load falls on both alike.
 * - broker_cpu_pct_per_watcher: this process's CPU (the broker runs in it, beside the browser
 *   hosts and the Playwright client) over the same windows: (with 3 - without) / 3, in percent of
 *   one core.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { DEFAULT_RECORDING_POLICY } from '../common/recording.js';
import { H, ROOT_POINT, Stack, W, missingTools, requestSession, signIn, type Person } from '../kit/e2e-stack.js';
import { xdotool } from '../kit/xvfb.js';
import { changeToPixel } from './lib/change-to-pixel.js';
import { clockOffset, firstFrameAt, installPixelProbe, watchFirstFrame } from './lib/screen-probe.js';
import { round, sleep, summarize } from './lib/stats.js';
import { UPLOAD_PROBE, uploadedBytes } from './lib/upload-probe.js';

const log = (s: string) => process.stdout.write(`${s}\n`);
const WATCH_VIDEO = '[data-testid="watch-video"]';
const APP_VIDEO = '[data-testid="remote-video"]';
const PROBE_POINT = { x: ROOT_POINT.x / W, y: ROOT_POINT.y / H };
const WATCHERS = 3;

/** Typing into the target window: the same kind of screen change in every window. */
async function activity(s: Stack, seconds: number): Promise<void> {
  const at = await s.target.centreOf('#i');
  await xdotool(s.xvfb.display, ['mousemove', String(Math.round(at.x * W)), String(Math.round(at.y * H)), 'click', '1']);
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) await xdotool(s.xvfb.display, ['type', '--delay', '140', 'quick brown fox ']).catch(() => undefined);
}

interface Window {
  watchers: number;
  seconds: number;
  upload_kbps: number;
  process_cpu_pct: number;
}

async function measureWindow(s: Stack, eu: Page, watchers: number, seconds: number): Promise<Window> {
  const b0 = await uploadedBytes(eu);
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  await activity(s, seconds);
  const t1 = Date.now();
  const c1 = process.cpuUsage(c0);
  const b1 = await uploadedBytes(eu);
  const wall = (t1 - t0) / 1000;
  return { watchers, seconds: round(wall, 1), upload_kbps: round(((b1 - b0) * 8) / wall / 1000, 1), process_cpu_pct: round(((c1.user + c1.system) / 1e6 / wall) * 100, 1) };
}

/** A supervisor opens the session from the Live list: click to the first frame on its page (ms), or null. */
async function join(page: Page, ticket: string): Promise<number | null> {
  await page.getByTestId(`live-${ticket}`).waitFor({ timeout: 15_000 });
  const clock = await clockOffset(page);
  const button = page.getByTestId(`live-${ticket}`).getByRole('button', { name: `Watch ${ticket}` });
  await button.waitFor();
  const t0 = Date.now();
  await button.click();
  await page.locator(WATCH_VIDEO).waitFor({ state: 'attached' });
  await watchFirstFrame(page, WATCH_VIDEO);
  const at = await firstFrameAt(page, clock.offsetMs, 20_000);
  return at === null ? null : at - t0;
}

async function leave(page: Page): Promise<void> {
  await page.getByTestId('stop-watching').click();
  await page.getByRole('heading', { name: 'Live sessions to watch' }).waitFor();
}

export async function runMonitorBench(o: { quick: boolean }): Promise<number> {
  const missing = missingTools();
  if (missing.length > 0) {
    process.stderr.write(`monitor bench: missing ${missing.join(', ')}\n`);
    return 1;
  }
  const windowS = o.quick ? 15 : 40;
  const pairs = o.quick ? 1 : 3;
  const nChanges = o.quick ? 12 : 40;
  const joinRounds = o.quick ? 1 : 3;
  const started = Date.now();
  log(`monitor bench: ${pairs} pair(s) of ${windowS} s windows without and with ${WATCHERS} watchers, ${nChanges} screen changes, ${joinRounds * WATCHERS} joins`);
  const s = await Stack.start({ policy: { recordings: { ...DEFAULT_RECORDING_POLICY, with_control: 'required', view_only: 'required' }, watchers_allowed: true } });
  const dir = path.join(import.meta.dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  try {
    const euHost = await s.host('end_user');
    const analyst = await s.user('analyst');
    const supervisors: Person[] = [];
    for (let i = 0; i < WATCHERS; i++) supervisors.push(await s.user('supervisor', 'internal', { displayName: `Supervisor ${i + 1}` }));
    const an = await s.staffPage(await s.host('staff'));
    await signIn(an.page, analyst);
    const watchers: Page[] = [];
    for (const sup of supervisors) {
      const w = await s.staffPage(await s.host('staff'));
      await signIn(w.page, sup);
      watchers.push(w.page);
    }
    const eu = await s.endUserPage(euHost);
    await eu.page.context().addInitScript(UPLOAD_PROBE);
    await eu.page.reload();
    await eu.page.getByRole('heading', { name: /^Get help from / }).waitFor();

    const ticket = 'BENCH-WATCH-1';
    await requestSession(an.page, { ticket, reason: 'Benchmark: monitored session', minutes: 60 });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    const anClock = await clockOffset(an.page);
    await watchFirstFrame(an.page, APP_VIDEO);
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    if ((await firstFrameAt(an.page, anClock.offsetMs, 30_000)) === null) throw new Error("no frame on the analyst's viewer within 30 s");
    // A few chunks stored first, so a join has a backlog as it would in a real session.
    await sleep(6000);

    const windows: Window[] = [];
    const joins: number[] = [];
    let missedJoins = 0;
    for (let i = 0; i < pairs; i++) {
      windows.push(await measureWindow(s, eu.page, 0, windowS));
      for (const w of watchers) {
        const ms = await join(w, ticket);
        if (ms === null) missedJoins++;
        else joins.push(ms);
      }
      windows.push(await measureWindow(s, eu.page, WATCHERS, windowS));
      log(`  pair ${i + 1}: upload ${windows.at(-2)!.upload_kbps} -> ${windows.at(-1)!.upload_kbps} kbit/s; process CPU ${windows.at(-2)!.process_cpu_pct}% -> ${windows.at(-1)!.process_cpu_pct}%`);
      if (i < pairs - 1) for (const w of watchers) await leave(w);
    }
    for (let r = 1; r < joinRounds; r++) {
      // More joins (the windows' joins count too): leave and come back, one watcher at a time.
      for (const w of watchers) {
        await leave(w);
        const ms = await join(w, ticket);
        if (ms === null) missedJoins++;
        else joins.push(ms);
      }
    }

    // Latency: on the first watcher's picture, and the analyst's WebRTC picture as the same run's baseline.
    const wClock = await clockOffset(watchers[0]!);
    await installPixelProbe(watchers[0]!, WATCH_VIDEO, PROBE_POINT);
    const watched = await changeToPixel(watchers[0]!, s.xvfb.display, wClock.offsetMs, nChanges);
    await installPixelProbe(an.page, APP_VIDEO, PROBE_POINT);
    const direct = await changeToPixel(an.page, s.xvfb.display, anClock.offsetMs, Math.min(nChanges, 20));

    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const without = windows.filter((w) => w.watchers === 0);
    const withW = windows.filter((w) => w.watchers === WATCHERS);
    const upWithout = avg(without.map((w) => w.upload_kbps));
    const upWith = avg(withW.map((w) => w.upload_kbps));
    const cpuWithout = avg(without.map((w) => w.process_cpu_pct));
    const cpuWith = avg(withW.map((w) => w.process_cpu_pct));
    const lat = summarize(watched.ms);
    const out = {
      watch_latency_p50_ms: round(lat.p50, 1),
      watch_latency_p99_ms: round(lat.p99, 1),
      watch_join_to_first_frame_p50_ms: joins.length ? round(summarize(joins).p50, 1) : null,
      sharer_upload_kbps_with_3_watchers: round(upWith, 1),
      sharer_upload_kbps_without_watchers: round(upWithout, 1),
      broker_cpu_pct_per_watcher: round((cpuWith - cpuWithout) / WATCHERS, 2),
      quick: o.quick,
      sharer_upload_added_pct: round(((upWith - upWithout) * 100) / upWithout, 1),
      watch_latency_samples: watched.ms.length,
      watch_latency_missed: watched.missed,
      analyst_change_to_pixel_p50_ms: round(summarize(direct.ms).p50, 1),
      join_samples_ms: joins.map((x) => round(x, 1)),
      joins_missed: missedJoins,
      windows,
      cpus: os.cpus().length,
      loadavg_1m_after: round(os.loadavg()[0]!, 2),
      date: new Date().toISOString(),
      duration_s: round((Date.now() - started) / 1000, 1),
      goals: { watch_latency_p50_ms: 3000, sharer_upload_added_pct: 10 },
    };
    fs.writeFileSync(path.join(dir, 'monitor.json'), JSON.stringify(out, null, 2) + '\n');
    log(`${JSON.stringify(out, null, 2)}\nwrote ${path.join(dir, 'monitor.json')}`);
    const ok = out.watch_latency_p50_ms <= 3000 && out.sharer_upload_added_pct <= 10 && watched.ms.length > 0;
    return ok ? 0 : 1;
  } finally {
    await s.close();
  }
}
