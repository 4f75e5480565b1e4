/**
 * Recording benchmark (`npm run bench -- recording [--quick]`), writes bench/results/recording.json
 * and leaves one evidence bundle at bench/results/evidence-sample.tar (its path printed).
 *
 * Everything is the app's own: the broker on loopback (SQLite, chunk files in its data dir), the
 * browser hosts with main's services, the built renderer, the end user's Chromium headed on Xvfb
 * sharing the real screen, and its recorder (MediaRecorder on the shared track, uploading each
 * chunk with the session token and a device-key proof). Sessions are view only; between them the
 * bench sets the broker's policy for view-only sessions to `off` or `required`, so rounds with
 * and without recording differ in nothing else. Rounds alternate (without, VP9, VP8, ...) so the
 * shared machine's drifting load falls on all alike. Each round: the change-to-pixel probe of the
 * app bench, then the same screen activity (typing into the target window, then lines scrolling
 * every frame) while the end user's whole Chromium process tree's CPU time is read from /proc and
 * the page's probe (bench/lib/recorder-probe.ts) notes each chunk's size, production and ack.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { DEFAULT_RECORDING_POLICY, RECORDING_TIMESLICE_MS, RECORDING_VIDEO_BITS_PER_SECOND, type RecordingPolicy } from '../common/recording.js';
import { H, ROOT_POINT, Stack, W, missingTools, requestSession, signIn } from '../kit/e2e-stack.js';
import { xdotool } from '../kit/xvfb.js';
import { changeToPixel } from './lib/change-to-pixel.js';
import { verifyThroughput } from './lib/evidence-throughput.js';
import { scroll } from './lib/picture.js';
import { findChild, treeCpuSeconds } from './lib/proc-cpu.js';
import { RECORDER_PROBE, ackLags, kbpsWithin, readProbe, resetProbe } from './lib/recorder-probe.js';
import { clockOffset, firstFrameAt, installPixelProbe, watchFirstFrame } from './lib/screen-probe.js';
import { round, sleep, summarize } from './lib/stats.js';

const log = (s: string) => process.stdout.write(`${s}\n`);
const APP_VIDEO = '[data-testid="remote-video"]';
const PROBE_POINT = { x: ROOT_POINT.x / W, y: ROOT_POINT.y / H };
type Kind = 'without' | 'vp9' | 'vp8';

interface Round {
  kind: Kind;
  mime: string | null;
  change_to_pixel_ms: number[];
  missed: number;
  activity_s: number;
  sharer_cpu_pct: number;
  kbps: number | null;
  kbps_over_s: number | null;
  ack_lags_ms: number[];
  session_id: string;
}

const median = (xs: number[]): number | null => (xs.length ? summarize(xs).p50 : null);
/** Per-round figures (CPU, bitrate) are averaged over the rounds of a kind: two in a full run, where a nearest-rank median would be the lower one. */
const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** Typing for half the time, then lines scrolling every frame: a screen with text that changes. */
async function activity(s: Stack, seconds: number): Promise<void> {
  // centreOf is normalised to the screen; xdotool wants pixels.
  const at = await s.target.centreOf('#i');
  await xdotool(s.xvfb.display, ['mousemove', String(Math.round(at.x * W)), String(Math.round(at.y * H)), 'click', '1']);
  const typingUntil = Date.now() + (seconds * 1000) / 2;
  while (Date.now() < typingUntil) await xdotool(s.xvfb.display, ['type', '--delay', '140', 'quick brown fox ']).catch(() => undefined);
  await scroll(s.target.page, true);
  await sleep(Math.max(0, typingUntil + (seconds * 1000) / 2 - Date.now()));
  await scroll(s.target.page, false);
}

export async function runRecordingBench(o: { quick: boolean }): Promise<number> {
  const missing = missingTools();
  if (missing.length > 0) {
    process.stderr.write(`recording bench: missing ${missing.join(', ')}\n`);
    return 1;
  }
  const kinds: Kind[] = o.quick ? ['without', 'vp9', 'vp8'] : ['without', 'vp9', 'vp8', 'without', 'vp9', 'vp8'];
  const activityS = o.quick ? 20 : 60;
  const nChanges = o.quick ? 10 : 20;
  const started = Date.now();
  log(`recording bench: ${kinds.length} sessions (${kinds.join(', ')}), each ${nChanges} screen changes and ${activityS} s of typing and scrolling`);
  const policy: RecordingPolicy = { ...DEFAULT_RECORDING_POLICY, with_control: 'required', view_only: 'off' };
  const s = await Stack.start({ policy: { recordings: policy } });
  const dir = path.join(import.meta.dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  try {
    // The broker reads its policy at each offer and activation: the bench turns recording on and off between sessions.
    const live = s.broker.ctx.cfg.policy.recordings as RecordingPolicy;
    const euHost = await s.host('end_user');
    const anHost = await s.host('staff');
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    const eu = await s.endUserPage(euHost);
    await eu.page.context().addInitScript(RECORDER_PROBE);
    await eu.page.reload();
    await eu.page.getByRole('heading', { name: /^Get help from / }).waitFor();
    const sharer = findChild('--auto-select-desktop-capture-source');
    if (sharer === null) throw new Error("cannot find the end user's Chromium among this process's children");
    const anClock = await clockOffset(an.page);
    const euClock = await clockOffset(eu.page);
    const rounds: Round[] = [];
    for (const [i, kind] of kinds.entries()) {
      live.view_only = kind === 'without' ? 'off' : 'required';
      await resetProbe(eu.page, kind === 'vp8');
      const ticket = `BENCH-REC-${i + 1}`;
      await requestSession(an.page, { ticket, reason: 'Benchmark: recording' });
      const codeEl = an.page.getByTestId('join-code');
      await codeEl.waitFor({ timeout: 15_000 });
      await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
      await eu.page.getByRole('button', { name: 'Continue' }).click();
      const accept = eu.page.getByRole('button', { name: 'Accept and share my screen' });
      await accept.waitFor();
      await watchFirstFrame(an.page, APP_VIDEO);
      await accept.click();
      if ((await firstFrameAt(an.page, anClock.offsetMs, 30_000)) === null) throw new Error(`session ${i + 1}: no frame on the analyst's viewer within 30 s`);
      await sleep(1000);
      await installPixelProbe(an.page, APP_VIDEO, PROBE_POINT);
      const ctp = await changeToPixel(an.page, s.xvfb.display, anClock.offsetMs, nChanges);
      const cpu0 = treeCpuSeconds(sharer);
      const t0 = Date.now();
      await activity(s, activityS);
      const cpu1 = treeCpuSeconds(sharer);
      const t1 = Date.now();
      await endSession(an.page, eu.page);
      const session = (await s.broker.ctx.sessions.list({ limit: 20 })).find((x) => x.ticket === ticket)!;
      if (kind !== 'without') await finalised(s, session.id);
      const probe = await readProbe(eu.page);
      const rate = kind === 'without' ? null : kbpsWithin(probe, t0 + euClock.offsetMs, t1 + euClock.offsetMs);
      const r: Round = {
        kind,
        mime: kind === 'without' ? null : probe.mime,
        change_to_pixel_ms: ctp.ms.map((x) => round(x, 1)),
        missed: ctp.missed,
        activity_s: round((t1 - t0) / 1000, 1),
        sharer_cpu_pct: round(((cpu1 - cpu0) * 100) / ((t1 - t0) / 1000), 1),
        kbps: rate ? round(rate.kbps, 1) : null,
        kbps_over_s: rate ? round(rate.seconds, 1) : null,
        ack_lags_ms: ackLags(probe).map((x) => round(x, 1)),
        session_id: session.id,
      };
      rounds.push(r);
      log(`  ${i + 1} ${kind}${r.mime ? ` (${r.mime})` : ''}: change -> pixel p50 ${round(median(ctp.ms) ?? NaN, 1)} ms; sharer CPU ${r.sharer_cpu_pct}% of a core; ${r.kbps ?? '-'} kbit/s recorded; ${r.ack_lags_ms.length} chunks acked`);
    }

    const of = (k: Kind) => rounds.filter((r) => r.kind === k);
    const figures = (k: Kind) => {
      const rs = of(k);
      const kbps = mean(rs.flatMap((r) => (r.kbps === null ? [] : [r.kbps])));
      const lags = summarize(rs.flatMap((r) => r.ack_lags_ms));
      return {
        mime: rs[0]?.mime ?? null,
        kbps: kbps === null ? null : round(kbps, 1),
        mb_per_hour: kbps === null ? null : round((kbps * 1000 * 3600) / 8 / 1e6, 1),
        sharer_cpu_pct: round(mean(rs.map((r) => r.sharer_cpu_pct))!, 1),
        change_to_pixel_p50_ms: round(median(rs.flatMap((r) => r.change_to_pixel_ms))!, 1),
        ack_lag_p50_ms: round(lags.p50, 1),
        ack_lag_p99_ms: round(lags.p99, 1),
        chunks_acked: lags.n,
      };
    };
    const without = figures('without');
    const vp9 = figures('vp9');
    const vp8 = figures('vp8');
    // The codec the recorder picks (renderer/session/recorder.ts MIME_CANDIDATES, first supported).
    const chosen = vp9.mime?.includes('vp9') ? vp9 : vp8;
    const chosenKind: Kind = chosen === vp9 ? 'vp9' : 'vp8';

    const sampleId = [...of(chosenKind)].reverse()[0]!.session_id;
    const tar = await s.broker.ctx.evidence.export(sampleId, { actor: 'bench', source: null });
    const sample = path.join(dir, 'evidence-sample.tar');
    fs.writeFileSync(sample, tar);
    const verify = verifyThroughput(tar, sample, o.quick ? 10 : 40);

    const out = {
      quick: o.quick,
      date: new Date().toISOString(),
      cpus: os.cpus().length,
      loadavg_1m_after: round(os.loadavg()[0]!, 2),
      activity_seconds_per_round: activityS,
      video_bits_per_second_asked: RECORDING_VIDEO_BITS_PER_SECOND,
      timeslice_ms: RECORDING_TIMESLICE_MS,
      codec: chosen.mime,
      recording_kbps: chosen.kbps,
      recording_mb_per_hour: chosen.mb_per_hour,
      chunk_ack_lag_p50_ms: chosen.ack_lag_p50_ms,
      chunk_ack_lag_p99_ms: chosen.ack_lag_p99_ms,
      sharer_cpu_pct_with_recording: chosen.sharer_cpu_pct,
      sharer_cpu_pct_without: without.sharer_cpu_pct,
      sharer_cpu_added_pct: round(((chosen.sharer_cpu_pct - without.sharer_cpu_pct) * 100) / without.sharer_cpu_pct, 1),
      change_to_pixel_p50_ms_with_recording: chosen.change_to_pixel_p50_ms,
      change_to_pixel_p50_ms_without_recording: without.change_to_pixel_p50_ms,
      change_to_pixel_added_pct: round(((chosen.change_to_pixel_p50_ms - without.change_to_pixel_p50_ms) * 100) / without.change_to_pixel_p50_ms, 1),
      ...verify,
      codecs: { vp9, vp8, without },
      rounds,
      evidence_sample: sample,
      duration_s: round((Date.now() - started) / 1000, 1),
      goals: { chunk_ack_lag_p99_ms: 3000, sharer_cpu_added_pct: 25, change_to_pixel_added_pct: 10, recording_mb_per_hour: 300, evidence_verify_mb_per_s: 200 },
    };
    fs.writeFileSync(path.join(dir, 'recording.json'), JSON.stringify(out, null, 2) + '\n');
    const { rounds: _r, ...brief } = out;
    log(`${JSON.stringify(brief, null, 2)}\nwrote ${path.join(dir, 'recording.json')}\nsample evidence bundle: ${sample}`);
    return verify.evidence_verify_intact ? 0 : 1;
  } finally {
    await s.close();
  }
}

async function endSession(an: Page, eu: Page): Promise<void> {
  await an.getByRole('button', { name: 'End session' }).click();
  await an.getByRole('button', { name: 'End session now' }).click();
  await an.getByTestId('end-screen').waitFor({ timeout: 15_000 });
  await eu.getByTestId('end-screen').waitFor({ timeout: 15_000 });
  await eu.getByRole('button', { name: 'Done' }).click();
  await an.getByRole('button', { name: 'New request' }).click();
}

async function finalised(s: Stack, sessionId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const rec = await s.broker.ctx.storage.db.selectFrom('recordings').select('state').where('session_id', '=', sessionId).executeTakeFirst();
    if (rec?.state === 'finalised') return;
    await sleep(100);
  }
  throw new Error(`the recording of ${sessionId} was not finalised within 20 s`);
}
