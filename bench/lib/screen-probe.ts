/**
 * What the app benchmark runs inside a viewer page: detectors that timestamp, on the page's own
 * clock, the moment a <video> first shows a frame and the moment a sampled pixel turns a wanted
 * colour; and the offset between that clock and Node's, so both ends of a latency are on one clock.
 */
import type { Page } from 'playwright-core';
import { sleep } from './stats.js';

/**
 * tsx (esbuild with keepNames) wraps named functions in the code it compiles with a `__name`
 * helper that exists only in Node; functions handed to page.evaluate carry those calls into the
 * page, so the page needs a stand-in first. A string is evaluated as is.
 */
export async function nameShim(page: Page): Promise<void> {
  await page.evaluate('globalThis.__name = globalThis.__name || ((f) => f)');
}

/**
 * Page clock (performance.timeOrigin + performance.now()) minus Node's Date.now(), from the
 * round trip with the smallest spread; `uncertaintyMs` is half that spread.
 */
export async function clockOffset(page: Page): Promise<{ offsetMs: number; uncertaintyMs: number }> {
  let best = { offsetMs: 0, uncertaintyMs: Infinity };
  for (let i = 0; i < 7; i++) {
    const before = Date.now();
    const pageNow = await page.evaluate(() => performance.timeOrigin + performance.now());
    const after = Date.now();
    const u = (after - before) / 2;
    if (u < best.uncertaintyMs) best = { offsetMs: pageNow - (before + after) / 2, uncertaintyMs: u };
  }
  return best;
}

/**
 * Starts watching `selector` for its first shown frame: the first animation frame in which the
 * element is visible, has a decoded frame (readyState >= 2) and a size. Read it with firstFrameAt.
 */
export async function watchFirstFrame(page: Page, selector: string): Promise<void> {
  await nameShim(page);
  await page.evaluate((sel) => {
    const w = window as unknown as { __firstFrameAt: number | null };
    w.__firstFrameAt = null;
    const tick = () => {
      const v = document.querySelector(sel) as HTMLVideoElement | null;
      if (v && v.videoWidth > 0 && v.readyState >= 2 && getComputedStyle(v).visibility !== 'hidden') {
        w.__firstFrameAt = performance.timeOrigin + performance.now();
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, selector);
}

/** The first-frame time in Node's clock, once it has been seen (null after `timeoutMs`). */
export async function firstFrameAt(page: Page, offsetMs: number, timeoutMs: number): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const at = await page.evaluate(() => (window as unknown as { __firstFrameAt: number | null }).__firstFrameAt);
    if (at !== null) return at - offsetMs;
    await sleep(20);
  }
  return null;
}

/**
 * Samples one pixel (normalised position) of the video at every new video frame
 * (requestVideoFrameCallback) and every animation frame, drawing it into a 1x1 canvas; records
 * when it first comes within `tolerance` of the colour set by expectColour.
 */
export async function installPixelProbe(page: Page, selector: string, at: { x: number; y: number }, tolerance = 48): Promise<void> {
  await nameShim(page);
  await page.evaluate(
    ([sel, nx, ny, tol]) => {
      const v = document.querySelector(sel as string) as HTMLVideoElement | null;
      if (!v) throw new Error(`no ${String(sel)} on the page`);
      const c = document.createElement('canvas');
      c.width = 1;
      c.height = 1;
      const g = c.getContext('2d', { willReadFrequently: true })!;
      const st = { want: null as [number, number, number] | null, seenAt: null as number | null, samples: 0 };
      (window as unknown as { __probe: typeof st }).__probe = st;
      const check = () => {
        if (!st.want || st.seenAt !== null || v.videoWidth === 0) return;
        g.drawImage(v, Math.floor((nx as number) * (v.videoWidth - 1)), Math.floor((ny as number) * (v.videoHeight - 1)), 1, 1, 0, 0, 1, 1);
        const d = g.getImageData(0, 0, 1, 1).data;
        st.samples++;
        const w = st.want;
        if (Math.abs(d[0]! - w[0]) <= (tol as number) && Math.abs(d[1]! - w[1]) <= (tol as number) && Math.abs(d[2]! - w[2]) <= (tol as number)) {
          st.seenAt = performance.timeOrigin + performance.now();
        }
      };
      const onVideoFrame = () => {
        check();
        v.requestVideoFrameCallback(onVideoFrame);
      };
      v.requestVideoFrameCallback(onVideoFrame);
      const onAnimationFrame = () => {
        check();
        requestAnimationFrame(onAnimationFrame);
      };
      requestAnimationFrame(onAnimationFrame);
    },
    [selector, at.x, at.y, tolerance] as const,
  );
}

export async function expectColour(page: Page, rgb: [number, number, number]): Promise<void> {
  await page.evaluate((want) => {
    const st = (window as unknown as { __probe: { want: [number, number, number] | null; seenAt: number | null } }).__probe;
    st.want = want;
    st.seenAt = null;
  }, rgb);
}

/** When the probe saw the wanted colour, in Node's clock; null after `timeoutMs`. */
export async function colourSeenAt(page: Page, offsetMs: number, timeoutMs: number): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const at = await page.evaluate(() => (window as unknown as { __probe: { seenAt: number | null } }).__probe.seenAt);
    if (at !== null) return at - offsetMs;
    await sleep(15);
  }
  return null;
}
