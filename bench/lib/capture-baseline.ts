/**
 * The floor the app's screen path is compared with: two plain pages and no app. One page (headed
 * Chromium on the Xvfb display) captures the screen with getDisplayMedia under the same
 * constraints the app uses and sends it over a bare RTCPeerConnection; the other (headless) shows
 * it in a <video>. SDP is passed through Node once ICE gathering is complete; no broker, no
 * simple-peer, no data channels.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { CAPTURE_FRAME_RATE } from '../../common/control/quality.js';
import { nameShim } from './screen-probe.js';

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>capture baseline</title></head>
<body style="margin:0;background:#fff">
<button id="share" style="font-size:24px">Share</button>
<video id="v" autoplay muted playsinline style="width:640px;height:360px;background:#000"></video>
</body></html>`;

/** A loopback page server: getDisplayMedia needs a secure context, and http://127.0.0.1 is one. */
export async function servePlainPage(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(PAGE);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The same capture constraints as renderer/app/flows/join.ts, so the comparison is like for like. */
export const CAPTURE_CONSTRAINTS = { video: { frameRate: { ideal: CAPTURE_FRAME_RATE, max: CAPTURE_FRAME_RATE } }, audio: false } as const;

/** For the codec comparison (bench/lib/codecs.ts): one codec only, and the app's content hint. */
export interface BaselineOptions {
  /** mimeType such as 'video/VP9': the only codec offered (with its retransmission format). */
  codec?: string;
  contentHint?: string;
}

/**
 * Connects a capturing page and a viewing page. `t0` is taken just before the click that starts
 * capture (the user gesture getDisplayMedia needs).
 */
export async function connectBaseline(sender: Page, viewer: Page, opts: BaselineOptions = {}): Promise<{ t0: number }> {
  await nameShim(sender);
  await nameShim(viewer);
  await sender.evaluate(({ constraints, opts }) => {
    const w = window as unknown as { __offer: Promise<string> };
    w.__offer = new Promise((resolve, reject) => {
      document.getElementById('share')!.addEventListener(
        'click',
        () => {
          void (async () => {
            try {
              const media = await navigator.mediaDevices.getDisplayMedia(constraints);
              const pc = new RTCPeerConnection();
              (window as unknown as { __pc: RTCPeerConnection }).__pc = pc;
              for (const t of media.getTracks()) {
                if (opts.contentHint) t.contentHint = opts.contentHint;
                pc.addTrack(t, media);
              }
              if (opts.codec) {
                const want = opts.codec.toLowerCase();
                const all = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
                const keep = all.filter((c) => c.mimeType.toLowerCase() === want || c.mimeType.toLowerCase() === 'video/rtx');
                if (!keep.some((c) => c.mimeType.toLowerCase() === want)) throw new Error(`this browser cannot send ${opts.codec}`);
                pc.getTransceivers()[0]!.setCodecPreferences(keep);
              }
              await pc.setLocalDescription(await pc.createOffer());
              await gathered(pc);
              resolve(JSON.stringify(pc.localDescription));
            } catch (e) {
              reject(e instanceof Error ? e : new Error(String(e)));
            }
          })();
        },
        { once: true },
      );
    });
    function gathered(pc: RTCPeerConnection): Promise<void> {
      return new Promise((r) => {
        if (pc.iceGatheringState === 'complete') return r();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r());
      });
    }
  }, { constraints: CAPTURE_CONSTRAINTS, opts });
  const t0 = Date.now();
  await sender.click('#share');
  const offer = await sender.evaluate(() => (window as unknown as { __offer: Promise<string> }).__offer);
  const answer = await viewer.evaluate(async (o) => {
    const pc = new RTCPeerConnection();
    (window as unknown as { __pc: RTCPeerConnection }).__pc = pc;
    const v = document.getElementById('v') as HTMLVideoElement;
    pc.addEventListener('track', (e) => {
      v.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      void v.play().catch(() => undefined);
    });
    await pc.setRemoteDescription(JSON.parse(o) as RTCSessionDescriptionInit);
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise<void>((r) => {
      if (pc.iceGatheringState === 'complete') return r();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r());
    });
    return JSON.stringify(pc.localDescription);
  }, offer);
  await sender.evaluate(async (a) => {
    await (window as unknown as { __pc: RTCPeerConnection }).__pc.setRemoteDescription(JSON.parse(a) as RTCSessionDescriptionInit);
  }, answer);
  return { t0 };
}

/** Opens both pages: the sender where the app's end-user window sits, so the same screen point shows the root window. */
export async function openBaselinePages(o: {
  url: string;
  headedSender: Browser;
  headlessViewer: Browser;
}): Promise<{ sender: Page; viewer: Page; close(): Promise<void> }> {
  const senderContext = await o.headedSender.newContext({ viewport: null });
  const sender = await senderContext.newPage();
  await sender.goto(o.url);
  const viewerContext = await o.headlessViewer.newContext({ viewport: { width: 1280, height: 860 } });
  const viewer = await viewerContext.newPage();
  await viewer.goto(o.url);
  return {
    sender,
    viewer,
    // Closing the sender's context ends its capture, so the next round starts from nothing.
    close: async () => {
      await senderContext.close().catch(() => undefined);
      await viewerContext.close().catch(() => undefined);
    },
  };
}

/** The viewer's inbound video as WebRTC reports it (resolution, rate, per-frame buffer and decode). */
export async function receiverStats(viewer: Page): Promise<Record<string, number>> {
  return viewer.evaluate(async () => {
    const pc = (window as unknown as { __pc: RTCPeerConnection }).__pc;
    const out: Record<string, number> = {};
    (await pc.getStats()).forEach((r: Record<string, unknown>) => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
      const n = Number(r.jitterBufferEmittedCount ?? 0) || 1;
      const frames = Number(r.framesDecoded ?? 0) || 1;
      out.frame_width = Number(r.frameWidth ?? 0);
      out.frame_height = Number(r.frameHeight ?? 0);
      out.frames_per_second = Number(r.framesPerSecond ?? 0);
      out.jitter_buffer_ms_per_frame = Math.round((Number(r.jitterBufferDelay ?? 0) / n) * 10_000) / 10;
      out.decode_ms_per_frame = Math.round((Number(r.totalDecodeTime ?? 0) / frames) * 10_000) / 10;
      out.frames_dropped = Number(r.framesDropped ?? 0);
    });
    return out;
  });
}
