/**
 * App benchmark (`npm run bench -- app [--quick]`), writes bench/results/app.json:
 * - first remote frame on the analyst's viewer after the end user's Accept (p50 over 10 sessions);
 * - screen change on the Xvfb display to the changed pixel on the analyst's viewer (50 changes),
 *   beside the same measurement through two plain pages (getDisplayMedia -> RTCPeerConnection,
 *   no app) in the same run.
 * Everything is real: the broker on loopback, the browser hosts with the main-process services,
 * the built renderer, Debian's Chromium headed on Xvfb capturing the real screen. The set-up is
 * the end-to-end tests' (kit/e2e-stack.ts). Method and clocks: bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { H, PARK_POINT, ROOT_POINT, Stack, W, launchCapturingChromium, missingTools, requestSession, signIn } from '../kit/e2e-stack.js';
import { connectBaseline, openBaselinePages, receiverStats, servePlainPage } from './lib/capture-baseline.js';
import { RECORD_PCS, pictureFigures, type PictureFigures } from './lib/picture.js';
import { changeToPixel } from './lib/change-to-pixel.js';
import { TIMELINE, readTimeline, resetTimeline, type Step } from './lib/first-frame-timeline.js';
import { compareCodecs } from './lib/codecs.js';
import { textLegibility, type Legibility } from './lib/legibility.js';
import { clockOffset, firstFrameAt, installPixelProbe, watchFirstFrame } from './lib/screen-probe.js';
import { round, sleep, summarize } from './lib/stats.js';

const log = (s: string) => process.stdout.write(`${s}\n`);

const APP_VIDEO = '[data-testid="remote-video"]';
const BASELINE_VIDEO = '#v';
/** The issue's bitrate for the legibility figure: text must stay sharp on a thin link. */
const LEGIBILITY_CAP_BPS = 1_000_000;
const PROBE_POINT = { x: ROOT_POINT.x / W, y: ROOT_POINT.y / H };

function load(): { loadavg_1m: number; uptime: string } {
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = `loadavg ${os.loadavg().join(' ')}`;
  }
  return { loadavg_1m: round(os.loadavg()[0]!, 2), uptime };
}

export async function runAppBench(o: { quick: boolean; only?: Set<string> }): Promise<number> {
  // `--only first-frame,picture,codecs`: parts to run (default all); the first frames and changes always run.
  const part = (name: string) => !o.only?.size || o.only.has(name);
  const missing = missingTools();
  if (missing.length > 0) {
    process.stderr.write(`app bench: missing ${missing.join(', ')}\n`);
    return 1;
  }
  const nSessions = o.quick ? 3 : 10;
  const nChanges = o.quick ? 15 : 50;
  const started = Date.now();
  const out: Record<string, unknown> = { quick: o.quick, date: new Date().toISOString(), cpus: os.cpus().length, load_before: load() };
  log(`app bench: ${nSessions} sessions, ${nChanges} screen changes (app and plain-page baseline)`);

  const s = await Stack.start();
  try {
    const euHost = await s.host('end_user');
    const anHost = await s.host('staff');
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    // Both pages' peer connections are recorded for the picture's figures (bench/lib/picture.ts).
    await an.context.addInitScript(RECORD_PCS);
    await an.context.addInitScript(TIMELINE);
    await an.page.reload();
    await an.page.getByRole('heading', { name: 'Support staff sign in' }).waitFor();
    await signIn(an.page, analyst);
    const eu = await s.endUserPage(euHost);
    await eu.page.context().addInitScript(RECORD_PCS);
    await eu.page.context().addInitScript(TIMELINE);
    await eu.page.reload();
    await eu.page.getByRole('heading', { name: /^Get help from / }).waitFor();
    let picture: PictureFigures | null = null;
    let legibility: Legibility | null = null;
    let codecs: Awaited<ReturnType<typeof compareCodecs>> | null = null;
    const anClock = await clockOffset(an.page);
    out.clock_offset_ms = round(anClock.offsetMs, 2);
    out.clock_offset_uncertainty_ms = round(anClock.uncertaintyMs, 2);
    const euClock = await clockOffset(eu.page);
    const timelines: Step[][] = [];

    // App sessions and plain-page baseline rounds alternate, so drifting load on the machine
    // falls on both alike: each app session gives one first frame and its share of the changes,
    // then one baseline round does the same through plain pages.
    const perRound = Math.ceil(nChanges / nSessions);
    const firstFrames: number[] = [];
    const baseFirstFrames: number[] = [];
    const app = { ms: [] as number[], missed: 0, xsetrootMs: [] as number[] };
    const base = { ms: [] as number[], missed: 0, xsetrootMs: [] as number[] };
    const add = (into: typeof app, r: Awaited<ReturnType<typeof changeToPixel>>) => {
      into.ms.push(...r.ms);
      into.missed += r.missed;
      into.xsetrootMs.push(...r.xsetrootMs);
    };
    const server = await servePlainPage();
    const sender = await launchCapturingChromium(s.xvfb.display);
    s.browsers.push(sender);
    try {
      for (let i = 0; i < nSessions; i++) {
        const n = Math.min(perRound, nChanges - i * perRound);
        await requestSession(an.page, { ticket: `BENCH-${i + 1}`, reason: 'Benchmark: first frame and change to pixel' });
        const codeEl = an.page.getByTestId('join-code');
        await codeEl.waitFor({ timeout: 15_000 });
        const code = (await codeEl.textContent())!.trim();
        await eu.page.getByLabel('Join code').fill(code);
        await eu.page.getByRole('button', { name: 'Continue' }).click();
        const accept = eu.page.getByRole('button', { name: 'Accept and share my screen' });
        await accept.waitFor();
        await watchFirstFrame(an.page, APP_VIDEO);
        await resetTimeline([an.page, eu.page]);
        const t0 = Date.now();
        await accept.click();
        const at = await firstFrameAt(an.page, anClock.offsetMs, 30_000);
        if (at === null) throw new Error(`session ${i + 1}: no frame on the analyst's viewer within 30 s`);
        firstFrames.push(at - t0);
        timelines.push(await readTimeline({ endUser: eu.page, euOffsetMs: euClock.offsetMs, analyst: an.page, anOffsetMs: anClock.offsetMs, t0, firstFrameAt: at }));
        await sleep(1000);
        await installPixelProbe(an.page, APP_VIDEO, PROBE_POINT);
        if (n > 0) add(app, await changeToPixel(an.page, s.xvfb.display, anClock.offsetMs, n));
        if (i === nSessions - 1 && part('picture')) {
          picture = await pictureFigures({ viewer: an.page, sender: eu.page, target: s.target.page, display: s.xvfb.display, video: APP_VIDEO, quick: o.quick, typeAt: await s.target.centreOf('#i') });
          log(`  picture: scrolling ${picture.fps_moving_p50} fps, ${picture.scrolling_kbps} kbit/s, encoder ${picture.sharer_encode_cpu_pct}% of a core; idle ${picture.idle_kbps} kbit/s; typing ${picture.typing_kbps} kbit/s`);
          try {
            legibility = await textLegibility({ viewer: an.page, sender: eu.page, target: s.target.page, origin: s.target.origin, display: s.xvfb.display, video: APP_VIDEO, screen: { width: W, height: H }, capBps: LEGIBILITY_CAP_BPS, park: PARK_POINT, savePngPrefix: path.join(import.meta.dirname, 'results', 'legibility') });
            log(`  fine text at ${LEGIBILITY_CAP_BPS / 1000} kbit/s: SSIM ${legibility.ssim} (one pixel off scores ${legibility.ssim_one_pixel_shift}; PSNR ${legibility.psnr_db} dB; ${legibility.ssim_at_500ms} 0.5 s after it appeared), frame ${legibility.frame.width}x${legibility.frame.height}`);
          } catch (err) {
            // Said in the results (with what the viewer showed), not a lost run.
            const state = (await an.page.getByTestId('viewer-state').textContent({ timeout: 1000 }).catch(() => null)) ?? `no viewer; the page says: ${(await an.page.locator('main, body').first().innerText().catch(() => '')).replace(/\s+/g, ' ').slice(0, 300)}`;
            out.text_legibility_error = `${(err as Error).message.split('\n')[0]} (viewer: ${state})`;
            log(`  fine text: not measured: ${String(out.text_legibility_error)}`);
          }
        }
        await an.page.getByRole('button', { name: 'End session' }).click();
        await an.page.getByRole('button', { name: 'End session now' }).click();
        await an.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
        await eu.page.getByTestId('end-screen').waitFor({ timeout: 15_000 });
        await eu.page.getByRole('button', { name: 'Done' }).click();
        await an.page.getByRole('button', { name: 'New request' }).click();

        const pages = await openBaselinePages({ url: server.url, headedSender: sender, headlessViewer: s.headless });
        try {
          const vClock = await clockOffset(pages.viewer);
          await watchFirstFrame(pages.viewer, BASELINE_VIDEO);
          const { t0: b0 } = await connectBaseline(pages.sender, pages.viewer);
          const bAt = await firstFrameAt(pages.viewer, vClock.offsetMs, 30_000);
          if (bAt === null) throw new Error(`baseline round ${i + 1}: no frame within 30 s`);
          baseFirstFrames.push(bAt - b0);
          await sleep(1000);
          await installPixelProbe(pages.viewer, BASELINE_VIDEO, PROBE_POINT);
          if (n > 0) add(base, await changeToPixel(pages.viewer, s.xvfb.display, vClock.offsetMs, n));
          out.baseline_receiver_stats_last_round = await receiverStats(pages.viewer);
        } finally {
          await pages.close();
        }
        log(`  round ${i + 1}: first frame app ${Math.round(at - t0)} ms, plain pages ${Math.round(baseFirstFrames[i]!)} ms`);
      }
      // After the sessions, so the app's figures come first; the same browsers and display.
      if (part('codecs')) codecs = await compareCodecs({ url: server.url, sender, viewer: s.headless, target: s.target.page, origin: s.target.origin, display: s.xvfb.display, screen: { width: W, height: H }, rounds: o.quick ? 1 : 2, capBps: LEGIBILITY_CAP_BPS, moveMs: o.quick ? 3000 : 5000, log });
    } finally {
      await server.close();
    }
    const ff = summarize(firstFrames);
    const bff = summarize(baseFirstFrames);
    const ap = summarize(app.ms);
    const bs = summarize(base.ms);
    Object.assign(out, {
      first_frame_p50_ms: round(ff.p50, 1),
      first_frame_max_ms: round(ff.max, 1),
      first_frame_samples_ms: firstFrames.map((x) => round(x, 1)),
      change_to_pixel_p50_ms: round(ap.p50, 1),
      change_to_pixel_p99_ms: round(ap.p99, 1),
      change_to_pixel_n: ap.n,
      change_to_pixel_missed: app.missed,
      baseline_first_frame_p50_ms: round(bff.p50, 1),
      baseline_change_to_pixel_p50_ms: round(bs.p50, 1),
      baseline_change_to_pixel_p99_ms: round(bs.p99, 1),
      baseline_change_to_pixel_n: bs.n,
      baseline_change_to_pixel_missed: base.missed,
      first_frame_p50_ratio: round(ff.p50 / bff.p50, 2),
      change_to_pixel_p50_ratio: round(ap.p50 / bs.p50, 2),
      change_to_pixel_p99_ratio: round(ap.p99 / bs.p99, 2),
      ...(picture ?? {}),
      ...(legibility ? { text_legibility_ssim: legibility.ssim, text_legibility_psnr_db: legibility.psnr_db } : {}),
      details: { legibility, codecs, first_frame_timelines: timelines },
      xsetroot_p50_ms: round(summarize([...app.xsetrootMs, ...base.xsetrootMs]).p50, 1),
    });
    log(`  where the last session's first frame went (ms after Accept):\n${timelines.at(-1)!.map((x) => `    ${String(x.ms).padStart(7)}  ${x.side}: ${x.what}`).join('\n')}`);
    log(`  app:         first frame p50 ${round(ff.p50, 1)} ms (max ${round(ff.max, 1)}); change -> pixel p50 ${round(ap.p50, 1)} ms p99 ${round(ap.p99, 1)} ms (${app.missed} missed)`);
    log(`  plain pages: first frame p50 ${round(bff.p50, 1)} ms; change -> pixel p50 ${round(bs.p50, 1)} ms p99 ${round(bs.p99, 1)} ms (${base.missed} missed)`);
    log(`  app / plain pages: first frame x${round(ff.p50 / bff.p50, 2)}; change -> pixel p50 x${round(ap.p50 / bs.p50, 2)}, p99 x${round(ap.p99 / bs.p99, 2)}`);
  } finally {
    await s.close();
  }

  out.load_after = load();
  out.duration_s = round((Date.now() - started) / 1000, 1);
  out.goals = { first_frame_p50_ms: 1500, change_to_pixel_p50_ms: 200, first_frame_p50_ratio: 1.15, fps_moving_p50: 25, idle_kbps: 50, text_legibility_ssim: 0.95 };
  fs.mkdirSync(path.join(import.meta.dirname, 'results'), { recursive: true });
  const file = path.join(import.meta.dirname, 'results', 'app.json');
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  log(`wrote ${file}`);
  return 0;
}
