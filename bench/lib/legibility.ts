/**
 * How legible fine text is on the analyst's viewer (`text_legibility_ssim`, bench/README.md): a
 * page of small text on the Xvfb screen, the sender capped at a bitrate, one frame of a region
 * drawn from the viewer's <video> into a canvas, the same region read from the X server itself
 * (XGetImage over the display socket, so it never goes through capture, encoder or WebRTC), and
 * SSIM between the two (ssim.js, the original Wang et al. form: 11x11 Gaussian window, sigma 1.5,
 * K1 0.01, K2 0.03, on luma, no downsampling, so single-pixel strokes count).
 */
import fs from 'node:fs';
import type { Page } from 'playwright-core';
import { ssim } from 'ssim.js';
import { grabScreen, xdotool } from '../../kit/xvfb.js';
import { nameShim } from './screen-probe.js';
import { round, sleep } from './stats.js';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Rgba {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

// 11 px DejaVu Sans, black on white: the smallest text a desktop commonly shows (menus, tables, terminals).
const FINE_TEXT = `((on) => {
  document.getElementById('finetext')?.remove();
  if (!on) return;
  const d = document.createElement('div');
  d.id = 'finetext';
  d.style.cssText = 'position:fixed;inset:0;overflow:hidden;background:#fff;color:#000;font:11px "DejaVu Sans",sans-serif;line-height:13px;z-index:10;white-space:pre;padding:4px';
  const words = ['invoice', 'ticket', 'Printer', 'queue', '0x7f3a', 'C:\\\\Users', 'eth0', 'DNS', 'timeout=30s', 'ERROR', 'retry', 'VPN', 'cert.pem', '192.168.4.17', 'Sync'];
  const lines = [];
  for (let i = 0; i < 60; i++) { let l = String(i).padStart(3, '0') + ' '; for (let j = 0; j < 12; j++) l += words[(i * 7 + j * 3) % words.length] + ' '; lines.push(l); }
  d.textContent = lines.join('\\n');
  document.body.append(d);
})`;

/** Covers the target window's page with fine text (or removes it). */
export async function showFineText(target: Page, on: boolean): Promise<void> {
  await target.evaluate(`${FINE_TEXT}(${on})`);
}

/** The part of the target page to compare, in screen pixels: inside its viewport, clear of the edges. */
export async function fineTextRegion(target: Page, origin: { x: number; y: number }): Promise<Rect> {
  const vp = await target.evaluate(() => ({ w: window.innerWidth, h: window.innerHeight }));
  const width = Math.min(480, vp.w - 16);
  const height = Math.min(240, vp.h - 16);
  return { x: Math.round(origin.x + 8), y: Math.round(origin.y + 8), width: Math.floor(width), height: Math.floor(height) };
}

/** A region of the X server's root window, straight from the server (ZPixmap, depth 24, BGRX). */
/** The X server's own pixels of a region (moved to kit/xvfb.ts, where the e2e tests use it too). */
export { grabScreen };

/**
 * The same region from the viewer's current video frame, drawn at the video's own resolution
 * (not the element's size on the page). `screen` is the captured screen's size, to map the region.
 */
export async function grabVideo(viewer: Page, selector: string, r: Rect, screen: { width: number; height: number }): Promise<Rgba & { frameWidth: number; frameHeight: number }> {
  await nameShim(viewer);
  // A frame that is not there yet (the element was just given its stream) is waited for.
  await viewer.waitForFunction((sel) => ((document.querySelector(sel) as HTMLVideoElement | null)?.videoWidth ?? 0) > 0, selector, { timeout: 10_000 }).catch(() => undefined);
  const got = await viewer.evaluate(
    ({ selector, r, screen }) => {
      const v = document.querySelector(selector) as HTMLVideoElement | null;
      if (!v || !v.videoWidth) throw new Error(`no decoded frame in ${selector}`);
      const sx = v.videoWidth / screen.width;
      const sy = v.videoHeight / screen.height;
      const c = document.createElement('canvas');
      c.width = r.width;
      c.height = r.height;
      const g = c.getContext('2d', { willReadFrequently: true })!;
      g.imageSmoothingEnabled = false;
      // A video smaller than the screen is scaled back up: that loss is part of what the analyst sees.
      g.drawImage(v, r.x * sx, r.y * sy, r.width * sx, r.height * sy, 0, 0, r.width, r.height);
      return { data: Array.from(g.getImageData(0, 0, r.width, r.height).data), frameWidth: v.videoWidth, frameHeight: v.videoHeight };
    },
    { selector, r, screen },
  );
  return { data: Uint8ClampedArray.from(got.data), width: r.width, height: r.height, frameWidth: got.frameWidth, frameHeight: got.frameHeight };
}

/** Mean SSIM of two same-sized RGBA images, on luma (ITU-R BT.601 weights, as ssim.js's original form). */
export function meanSsim(a: Rgba, b: Rgba): number {
  return ssim(a, b, { ssim: 'original', windowSize: 11, k1: 0.01, k2: 0.03, downsample: false, rgb2grayVersion: 'original' }).mssim;
}

/** PSNR on luma in dB, beside the SSIM so a reader used to either can judge. */
export function lumaPsnr(a: Rgba, b: Rgba): number {
  let se = 0;
  const n = a.width * a.height;
  for (let i = 0; i < n; i++) {
    const ya = 0.299 * a.data[i * 4]! + 0.587 * a.data[i * 4 + 1]! + 0.114 * a.data[i * 4 + 2]!;
    const yb = 0.299 * b.data[i * 4]! + 0.587 * b.data[i * 4 + 1]! + 0.114 * b.data[i * 4 + 2]!;
    se += (ya - yb) ** 2;
  }
  const mse = se / n;
  return mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse);
}

/**
 * Caps the sender's video encoding at `bps` (RTCRtpSender.setParameters maxBitrate), on the live
 * connection of the page (the app's recorded peer connections, or the plain page's `__pc`).
 * Returns the cap that was there, to put back.
 */
export async function capSender(sender: Page, bps: number | null): Promise<number | null> {
  return sender.evaluate(async (bps) => {
    const w = window as unknown as { __pcs?: RTCPeerConnection[]; __pc?: RTCPeerConnection };
    const pc = w.__pcs ? [...w.__pcs].reverse().find((p) => p.connectionState === 'connected') : w.__pc;
    const s = pc?.getSenders().find((x) => x.track?.kind === 'video');
    if (!s) throw new Error('no video sender to cap');
    const p = s.getParameters();
    const before = p.encodings[0]?.maxBitrate ?? null;
    for (const e of p.encodings) {
      if (bps === null) delete e.maxBitrate;
      else e.maxBitrate = bps;
    }
    await s.setParameters(p);
    return before;
  }, bps);
}

export interface Legibility {
  /** SSIM after the static text has been on screen `settleMs`. */
  ssim: number;
  psnr_db: number;
  /** The same right after the text appeared (how it looks while the encoder is still refining). */
  ssim_at_500ms: number;
  /**
   * The control: the X server's own region against itself moved by one pixel. Text that is one
   * pixel off (or smeared by a pixel) scores this, so it shows how far below 1 a bad picture falls.
   */
  ssim_one_pixel_shift: number;
  settle_ms: number;
  cap_bps: number;
  region: Rect;
  frame: { width: number; height: number };
}

/**
 * Fine text appears on the X screen with the sender capped at `capBps`; 0.5 s later and after
 * `settleMs` the viewer's frame is compared with the X server's pixels.
 */
export async function textLegibility(o: {
  viewer: Page;
  sender: Page;
  target: Page;
  origin: { x: number; y: number };
  display: string;
  video: string;
  screen: { width: number; height: number };
  capBps: number;
  settleMs?: number;
  /** Where the pointer rests meanwhile (the capture draws the cursor; the server's image has none). */
  park: { x: number; y: number };
  /** Writes the two compared images as `<prefix>-screen.png` and `<prefix>-viewer.png`, to look at. */
  savePngPrefix?: string;
}): Promise<Legibility> {
  const settleMs = o.settleMs ?? 3000;
  const before = await capSender(o.sender, o.capBps);
  try {
    await xdotool(o.display, ['mousemove', String(o.park.x), String(o.park.y)]);
    // The encoder settles at the cap on ordinary content first, as it would in a running session.
    await sleep(2000);
    const region = await fineTextRegion(o.target, o.origin);
    await showFineText(o.target, true);
    await sleep(500);
    const early = await grabVideo(o.viewer, o.video, region, o.screen);
    const truth = await grabScreen(o.display, region);
    await sleep(Math.max(0, settleMs - 500));
    const late = await grabVideo(o.viewer, o.video, region, o.screen);
    const shifted = await grabScreen(o.display, { ...region, x: region.x + 1 });
    if (o.savePngPrefix) {
      await savePng(o.viewer, `${o.savePngPrefix}-screen.png`, truth);
      await savePng(o.viewer, `${o.savePngPrefix}-viewer.png`, late);
    }
    return {
      ssim: round(meanSsim(late, truth), 4),
      psnr_db: round(lumaPsnr(late, truth), 2),
      ssim_at_500ms: round(meanSsim(early, truth), 4),
      ssim_one_pixel_shift: round(meanSsim(shifted, truth), 4),
      settle_ms: settleMs,
      cap_bps: o.capBps,
      region,
      frame: { width: late.frameWidth, height: late.frameHeight },
    };
  } finally {
    await showFineText(o.target, false).catch(() => undefined);
    await capSender(o.sender, before).catch(() => undefined);
  }
}

/** PNG encoding by a page's canvas (no image package needed in Node). */
async function savePng(page: Page, file: string, img: Rgba): Promise<void> {
  const url = await page.evaluate(
    ({ data, width, height }) => {
      const c = document.createElement('canvas');
      c.width = width;
      c.height = height;
      c.getContext('2d')!.putImageData(new ImageData(Uint8ClampedArray.from(data), width, height), 0, 0);
      return c.toDataURL('image/png');
    },
    { data: Array.from(img.data), width: img.width, height: img.height },
  );
  fs.writeFileSync(file, Buffer.from(url.slice(url.indexOf(',') + 1), 'base64'));
}
