/**
 * The screen codecs side by side (app.json `details.codecs`, bench/README.md): each codec the
 * end user's Chromium can send, alone in the offer, through the plain pages (bench/lib/capture-
 * baseline.ts) with the app's sender settings for text (content hint `detail`, maintain-resolution,
 * 30 frames/s ceiling) at one bitrate cap. For each: the encoder's own time while a page of text
 * scrolls every frame, the frames the viewer presents, the bits sent, and the legibility of fine
 * text (SSIM against the X server's pixels, bench/lib/legibility.ts). Rounds rotate the order, so
 * drifting load falls on every codec alike.
 */
import type { Browser, Page } from 'playwright-core';
import { PARK_POINT } from '../../kit/e2e-stack.js';
import { connectBaseline, openBaselinePages } from './capture-baseline.js';
import { textLegibility } from './legibility.js';
import { scroll } from './picture.js';
import { round, sleep } from './stats.js';

export const CODECS = ['video/VP8', 'video/VP9', 'video/H264', 'video/AV1'] as const;

export interface CodecRound {
  /** Click to a decoded frame on the viewer (Node's clock, the page polled every animation frame). */
  first_frame_ms: number;
  encode_cpu_pct: number;
  encode_ms_per_frame: number;
  fps_moving: number;
  scrolling_kbps: number;
  text_ssim: number;
  text_psnr_db: number;
  text_ssim_at_500ms: number;
  encoder: string;
  frame: string;
}

export interface CodecFigures {
  /** Medians over the rounds. */
  first_frame_ms: number;
  encode_cpu_pct: number;
  encode_ms_per_frame: number;
  fps_moving: number;
  scrolling_kbps: number;
  text_ssim: number;
  text_psnr_db: number;
  text_ssim_at_500ms: number;
  encoder: string;
  rounds: CodecRound[];
}

interface SendCounters {
  at: number;
  bytes: number;
  encodeS: number;
  frames: number;
  encoder: string;
  mime: string;
  width: number;
  height: number;
}

function sendCounters(sender: Page): Promise<SendCounters> {
  return sender.evaluate(async () => {
    const pc = (window as unknown as { __pc: RTCPeerConnection }).__pc;
    const out = { at: performance.now(), bytes: 0, encodeS: 0, frames: 0, encoder: '', mime: '', width: 0, height: 0 };
    const all = new Map<string, Record<string, unknown>>();
    (await pc.getStats()).forEach((r: Record<string, unknown>) => all.set(String(r.id), r));
    for (const r of all.values()) {
      if (r.type !== 'outbound-rtp' || r.kind !== 'video') continue;
      out.bytes += Number(r.bytesSent ?? 0);
      out.encodeS += Number(r.totalEncodeTime ?? 0);
      out.frames += Number(r.framesEncoded ?? 0);
      out.encoder = String(r.encoderImplementation ?? '');
      out.width = Number(r.frameWidth ?? 0);
      out.height = Number(r.frameHeight ?? 0);
      out.mime = String(all.get(String(r.codecId))?.mimeType ?? '');
    }
    return out;
  });
}

const PRESENTED = `(async (ms) => new Promise((resolve) => {
  const v = document.getElementById('v');
  let first = null, last = null;
  const cb = (now, meta) => { first = first || { t: now, n: meta.presentedFrames }; last = { t: now, n: meta.presentedFrames }; v.requestVideoFrameCallback(cb); };
  v.requestVideoFrameCallback(cb);
  setTimeout(() => resolve(first && last && last.t > first.t ? ((last.n - first.n) * 1000) / (last.t - first.t) : 0), ms);
}))`;

/** The codecs of the list this Chromium can send. */
export async function sendableCodecs(sender: Page): Promise<string[]> {
  const have = await sender.evaluate(() => (RTCRtpSender.getCapabilities('video')?.codecs ?? []).map((c) => c.mimeType.toLowerCase()));
  return CODECS.filter((c) => have.includes(c.toLowerCase()));
}

/** The sender's encoding as the app sets it for text (renderer/session/sender-settings.ts, Balanced), capped at `bps`. */
async function textSettings(sender: Page, bps: number): Promise<void> {
  await sender.evaluate(async (bps) => {
    const pc = (window as unknown as { __pc: RTCPeerConnection }).__pc;
    const s = pc.getSenders().find((x) => x.track?.kind === 'video')!;
    const p = s.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
    p.degradationPreference = 'maintain-resolution';
    for (const e of p.encodings) {
      e.maxBitrate = bps;
      e.maxFramerate = 30;
      e.scaleResolutionDownBy = 1;
    }
    await s.setParameters(p);
  }, bps);
}

async function oneRound(o: { url: string; sender: Browser; viewer: Browser; target: Page; origin: { x: number; y: number }; display: string; screen: { width: number; height: number }; codec: string; capBps: number; moveMs: number }): Promise<CodecRound> {
  const pages = await openBaselinePages({ url: o.url, headedSender: o.sender, headlessViewer: o.viewer });
  try {
    const { t0 } = await connectBaseline(pages.sender, pages.viewer, { codec: o.codec, contentHint: 'detail' });
    await pages.viewer.waitForFunction(() => (document.getElementById('v') as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 30_000, polling: 'raf' });
    const firstFrameMs = Date.now() - t0;
    await textSettings(pages.sender, o.capBps);
    await sleep(1500);
    await scroll(o.target, true);
    await sleep(1000);
    const a = await sendCounters(pages.sender);
    const fps = (await pages.viewer.evaluate(`${PRESENTED}(${o.moveMs})`)) as number;
    const b = await sendCounters(pages.sender);
    await scroll(o.target, false);
    const wallS = (b.at - a.at) / 1000;
    const leg = await textLegibility({ viewer: pages.viewer, sender: pages.sender, target: o.target, origin: o.origin, display: o.display, video: '#v', screen: o.screen, capBps: o.capBps, park: PARK_POINT });
    if (b.mime.toLowerCase() !== o.codec.toLowerCase()) throw new Error(`asked for ${o.codec}, the sender used ${b.mime || 'nothing'}`);
    return {
      first_frame_ms: firstFrameMs,
      encode_cpu_pct: round(((b.encodeS - a.encodeS) * 100) / wallS, 1),
      encode_ms_per_frame: round(((b.encodeS - a.encodeS) * 1000) / Math.max(1, b.frames - a.frames), 2),
      fps_moving: round(fps, 1),
      scrolling_kbps: round(((b.bytes - a.bytes) * 8) / 1000 / wallS, 1),
      text_ssim: leg.ssim,
      text_psnr_db: leg.psnr_db,
      text_ssim_at_500ms: leg.ssim_at_500ms,
      encoder: b.encoder,
      frame: `${b.width}x${b.height}`,
    };
  } finally {
    await pages.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function compareCodecs(o: { url: string; sender: Browser; viewer: Browser; target: Page; origin: { x: number; y: number }; display: string; screen: { width: number; height: number }; rounds: number; capBps: number; moveMs: number; log: (s: string) => void }): Promise<{ cap_bps: number; available: string[]; codecs: Record<string, CodecFigures> }> {
  const probe = await openBaselinePages({ url: o.url, headedSender: o.sender, headlessViewer: o.viewer });
  const available = await sendableCodecs(probe.sender).finally(() => probe.close());
  const rounds = new Map<string, CodecRound[]>(available.map((c) => [c, []]));
  for (let r = 0; r < o.rounds; r++) {
    const order = available.map((_, i) => available[(i + r) % available.length]!);
    for (const codec of order) {
      const got = await oneRound({ ...o, codec });
      rounds.get(codec)!.push(got);
      o.log(`  codec ${codec} round ${r + 1}: first frame ${got.first_frame_ms} ms, encoder ${got.encode_cpu_pct}% of a core (${got.encode_ms_per_frame} ms/frame, ${got.encoder}), ${got.fps_moving} fps, ${got.scrolling_kbps} kbit/s scrolling; text SSIM ${got.text_ssim} (${got.text_ssim_at_500ms} at 0.5 s)`);
    }
  }
  const codecs: Record<string, CodecFigures> = {};
  for (const [codec, rs] of rounds) {
    const m = (k: keyof Omit<CodecRound, 'encoder' | 'frame'>) => round(median(rs.map((x) => x[k])), 4);
    codecs[codec.slice('video/'.length).toLowerCase()] = {
      first_frame_ms: m('first_frame_ms'),
      encode_cpu_pct: m('encode_cpu_pct'),
      encode_ms_per_frame: m('encode_ms_per_frame'),
      fps_moving: m('fps_moving'),
      scrolling_kbps: m('scrolling_kbps'),
      text_ssim: m('text_ssim'),
      text_psnr_db: m('text_psnr_db'),
      text_ssim_at_500ms: m('text_ssim_at_500ms'),
      encoder: rs[0]?.encoder ?? '',
      rounds: rs,
    };
  }
  return { cap_bps: o.capBps, available, codecs };
}
