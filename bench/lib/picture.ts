/**
 * The picture's figures for the app bench (bench/app.ts): frames the analyst's <video> presents
 * while the X screen changes every frame, the bits the link carries while the screen is static,
 * typed into and scrolled, and the end user's encoder time while scrolling. Read from the
 * pages' own peer connections (recorded by RECORD_PCS before the app's code runs) and from the
 * video element's requestVideoFrameCallback.
 */
import type { Page } from 'playwright-core';
import { H, W } from '../../kit/e2e-stack.js';
import { xdotool } from '../../kit/xvfb.js';
import { round, sleep } from './stats.js';

export const RECORD_PCS = `(() => {
  const P = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends P { constructor(...a) { super(...a); window.__pcs.push(this); } };
})();`;

interface Counters {
  at: number;
  bytes: number;
  encodeS: number;
  framesEncoded: number;
}

/** The live connection's video counters: inbound bytes on the analyst's side, encoder time on the end user's. */
function counters(page: Page, dir: 'inbound-rtp' | 'outbound-rtp'): Promise<Counters> {
  return page.evaluate(async (dir) => {
    const pcs = (window as unknown as { __pcs?: RTCPeerConnection[] }).__pcs ?? [];
    const pc = [...pcs].reverse().find((p) => p.connectionState === 'connected');
    const out = { at: performance.now(), bytes: 0, encodeS: 0, framesEncoded: 0 };
    if (!pc) return out;
    (await pc.getStats()).forEach((r: { type: string; kind?: string; bytesReceived?: number; bytesSent?: number; totalEncodeTime?: number; framesEncoded?: number }) => {
      if (r.type !== dir || r.kind !== 'video') return;
      out.bytes += (dir === 'inbound-rtp' ? r.bytesReceived : r.bytesSent) ?? 0;
      out.encodeS += r.totalEncodeTime ?? 0;
      out.framesEncoded += r.framesEncoded ?? 0;
    });
    return out;
  }, dir);
}

// Page code as text: tsx's name helper (__name) does not exist inside the page.
const PRESENTED_FPS = `(async ({ selector, ms }) => new Promise((resolve) => {
  const v = document.querySelector(selector);
  let first = null, last = null;
  const cb = (now, meta) => { first = first || { t: now, n: meta.presentedFrames }; last = { t: now, n: meta.presentedFrames }; v.requestVideoFrameCallback(cb); };
  v.requestVideoFrameCallback(cb);
  setTimeout(() => resolve(first && last && last.t > first.t ? ((last.n - first.n) * 1000) / (last.t - first.t) : 0), ms);
}))`;

/** Frames presented by the viewer's <video> (requestVideoFrameCallback) over `ms`. */
function presentedFps(viewer: Page, selector: string, ms: number): Promise<number> {
  return viewer.evaluate(`${PRESENTED_FPS}(${JSON.stringify({ selector, ms })})`) as Promise<number>;
}

export interface Window {
  kbps: number;
  encodeCpuPct: number;
  fps: number | null;
}

/** One measured stretch: bits received, the end user's encoder busy share, and optionally the frames shown. */
async function measure(viewer: Page, sender: Page, ms: number, fpsOf?: string): Promise<Window> {
  const [r0, s0] = await Promise.all([counters(viewer, 'inbound-rtp'), counters(sender, 'outbound-rtp')]);
  const fps = fpsOf ? await presentedFps(viewer, fpsOf, ms) : (await sleep(ms), null);
  const [r1, s1] = await Promise.all([counters(viewer, 'inbound-rtp'), counters(sender, 'outbound-rtp')]);
  return {
    kbps: round(((r1.bytes - r0.bytes) * 8) / (r1.at - r0.at), 1),
    // totalEncodeTime is the encoder's own time per frame summed: its share of one core.
    encodeCpuPct: round(((s1.encodeS - s0.encodeS) * 1000 * 100) / (s1.at - s0.at), 1),
    fps: fps === null ? null : round(fps, 1),
  };
}

const SCROLL = `((on) => {
  if (!on) { cancelAnimationFrame(window.__scroll || 0); document.getElementById('scroller')?.remove(); return; }
  const d = document.createElement('div');
  d.id = 'scroller';
  d.style.cssText = 'position:fixed;inset:0;overflow:hidden;background:#fff;font:13px sans-serif;z-index:9;white-space:pre';
  d.textContent = Array.from({ length: 4000 }, (_, i) => i + ' The quick brown fox jumps over the lazy dog, line ' + i + '.').join('\\n');
  document.body.append(d);
  const step = () => { d.scrollTop += 3; window.__scroll = requestAnimationFrame(step); };
  step();
})`;

/** Lines of text that scroll by three pixels every frame: the screen changes every frame. */
export async function scroll(target: Page, on: boolean): Promise<void> {
  await target.evaluate(`${SCROLL}(${on})`);
}

export interface PictureFigures {
  fps_moving_p50: number;
  idle_kbps: number;
  typing_kbps: number;
  scrolling_kbps: number;
  sharer_encode_cpu_pct: number;
  picture_windows: Record<string, Window[]>;
}

export async function pictureFigures(o: { viewer: Page; sender: Page; target: Page; display: string; video: string; quick: boolean; typeAt: { x: number; y: number } }): Promise<PictureFigures> {
  const idleMs = 20_000;
  const stretch = o.quick ? 5000 : 10_000;
  const reps = o.quick ? 3 : 5;
  const windows: Record<string, Window[]> = { idle: [], typing: [], scrolling: [] };
  await sleep(2000);
  windows.idle!.push(await measure(o.viewer, o.sender, idleMs));
  // typeAt is normalised to the screen (TargetWindow.centreOf); xdotool wants pixels.
  await xdotool(o.display, ['mousemove', String(Math.round(o.typeAt.x * W)), String(Math.round(o.typeAt.y * H)), 'click', '1']);
  // About seven keys a second, in short bursts (xdotool's helper allows 5 s per call).
  let typing = true;
  const typist = (async () => {
    while (typing) await xdotool(o.display, ['type', '--delay', '140', 'quick brown fox ']).catch(() => undefined);
  })();
  windows.typing!.push(await measure(o.viewer, o.sender, stretch));
  typing = false;
  await typist;
  await scroll(o.target, true);
  await sleep(1000);
  for (let i = 0; i < reps; i++) windows.scrolling!.push(await measure(o.viewer, o.sender, Math.round(stretch / 2), o.video));
  await scroll(o.target, false);
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  return {
    fps_moving_p50: p50(windows.scrolling!.map((w) => w.fps ?? 0)),
    idle_kbps: windows.idle![0]!.kbps,
    typing_kbps: windows.typing![0]!.kbps,
    scrolling_kbps: p50(windows.scrolling!.map((w) => w.kbps)),
    sharer_encode_cpu_pct: p50(windows.scrolling!.map((w) => w.encodeCpuPct)),
    picture_windows: windows,
  };
}
