/**
 * What the end-to-end tests check on a page: screenshots into test-results/screens, the remote
 * screen as the analyst's viewer shows it, axe-core's findings and the layout at 200% zoom. The
 * world they run in (broker, hosts, browsers, Xvfb) is kit/e2e-stack.ts, which the app benchmark
 * shares.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { ROOT, type TargetWindow } from '../../kit/e2e-stack.js';

const SCREENS_DIR = path.join(ROOT, 'test-results/screens');

/** A screenshot of the whole page, or (`window`) only what the window shows, as a person sees it before scrolling. */
export async function shot(page: Page, name: string, o: { window?: boolean } = {}): Promise<void> {
  fs.mkdirSync(SCREENS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENS_DIR, `${name}.png`), fullPage: !o.window });
}

/** Whether the element is wholly inside the window as it is now, without scrolling. */
export async function inWindow(page: Page, testId: string): Promise<boolean> {
  return page.getByTestId(testId).evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight + 1 && r.right <= window.innerWidth + 1;
  });
}

/** Reads one pixel of the remote screen as the analyst's viewer shows it (normalised position). */
export async function viewerPixel(page: Page, x: number, y: number): Promise<[number, number, number] | null> {
  return videoPixel(page, 'remote-video', x, y);
}

/** One pixel (normalised position) of the frame a <video> shows now, by its test id. */
export async function videoPixel(page: Page, testId: string, x: number, y: number): Promise<[number, number, number] | null> {
  return page.evaluate(
    ([id, nx, ny]) => {
      const v = document.querySelector(`[data-testid="${id as string}"]`) as HTMLVideoElement | null;
      if (!v || v.videoWidth === 0) return null;
      const c = document.createElement('canvas');
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      const g = c.getContext('2d');
      if (!g) return null;
      g.drawImage(v, 0, 0);
      // The protocol's convention (docs/session-protocol.md): pixel floor(x * width), the last for x = 1.
      const px = (n: number, size: number) => Math.min(size - 1, Math.floor(n * size));
      const d = g.getImageData(px(nx as number, v.videoWidth), px(ny as number, v.videoHeight), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!] as [number, number, number];
    },
    [testId, x, y] as const,
  );
}

/** Where on the analyst's page a normalised screen position is shown (the video is letterboxed). */
export async function viewerPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  return page.evaluate(
    ([nx, ny]) => {
      const v = document.querySelector('[data-testid="remote-video"]') as HTMLVideoElement;
      const r = v.getBoundingClientRect();
      const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
      const w = v.videoWidth * scale;
      const hh = v.videoHeight * scale;
      return { x: r.left + (r.width - w) / 2 + nx! * w, y: r.top + (r.height - hh) / 2 + ny! * hh };
    },
    [x, y],
  );
}

/**
 * The analyst clicks into the target window's field through the viewer, then types once that
 * field has focus, as a person would. Xvfb runs no window manager: a click moves X's keyboard
 * focus only when the clicked program asks for it, after the click, so keys sent at once went to
 * the window focused before (the end user's app, where they had just clicked Allow) and the first
 * of them was lost to the target on loaded runs.
 */
export async function clickAndType(target: TargetWindow, an: Page, selector: string, text: string): Promise<void> {
  const field = await target.centreOf(selector);
  const p = await viewerPoint(an, field.x, field.y);
  await an.mouse.click(p.x, p.y);
  await expect.poll(() => target.page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector), { timeout: 5000 }).toBe(true);
  await an.keyboard.type(text);
}

const AXE = fs.readFileSync(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical findings on the page as it is now (WCAG 2.x A and AA rules). */
export async function axeSerious(page: Page): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  // evaluate() is not subject to the page's CSP, which (rightly) forbids injected scripts.
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
}

/**
 * The page at 200% zoom: a window's CSS viewport halves in each direction (what browser zoom does to
 * layout). Takes a screenshot, then checks that nothing needs horizontal scrolling and that the
 * named buttons still fit across the viewport. Restores the size after.
 */
export async function at200(page: Page, name: string, buttons: string[]): Promise<{ horizontalScroll: boolean; clipped: string[] }> {
  const base = page.viewportSize() ?? (await page.evaluate(() => ({ width: window.innerWidth, height: window.innerHeight })));
  const half = { width: Math.floor(base.width / 2), height: Math.floor(base.height / 2) };
  await page.setViewportSize(half);
  await page.waitForTimeout(300);
  const horizontalScroll = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  const clipped: string[] = [];
  for (const b of buttons) {
    const box = await page.getByRole('button', { name: b, exact: true }).first().boundingBox();
    if (!box || box.x < 0 || box.x + box.width > half.width + 1) clipped.push(b);
  }
  await shot(page, name);
  await page.setViewportSize(base);
  await page.waitForTimeout(200);
  return { horizontalScroll, clipped };
}

/**
 * Records every text the elements with `testId` show from now on (a MutationObserver in the
 * page), so a progress line that changes faster than a test can poll is still seen.
 */
export async function recordTexts(page: Page, testId: string): Promise<() => Promise<string[]>> {
  await page.evaluate((id) => {
    const w = window as unknown as Record<string, Set<string>>;
    const seen = (w[`__texts_${id}`] = new Set<string>());
    const take = () => document.querySelectorAll(`[data-testid="${id}"]`).forEach((el) => seen.add(el.textContent ?? ''));
    new MutationObserver(take).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, testId);
  return () => page.evaluate((id) => [...((window as unknown as Record<string, Set<string>>)[`__texts_${id}`] ?? [])], testId);
}

/**
 * Times a colour change on a <video> from inside the page, as the app benchmark's probe does
 * (bench/lib/screen-probe.ts; tests may not import bench/): one pixel sampled into a 1x1 canvas
 * at every new video frame, the first sample within 48 of `rgb` noted on the page's clock, then
 * returned in Node's (the page's clock offset taken before). Null if not seen within `timeoutMs`.
 */
export async function colourShownAfter(page: Page, testId: string, at: { x: number; y: number }, rgb: [number, number, number], change: () => Promise<void>, timeoutMs: number): Promise<number | null> {
  const before = Date.now();
  const pageNow = await page.evaluate(() => performance.timeOrigin + performance.now());
  const offset = pageNow - (before + Date.now()) / 2;
  await page.evaluate(
    ([id, nx, ny, want]) => {
      const v = document.querySelector(`[data-testid="${id as string}"]`) as HTMLVideoElement;
      const c = document.createElement('canvas');
      c.width = 1;
      c.height = 1;
      const g = c.getContext('2d', { willReadFrequently: true })!;
      // Each probe owns the page's answer: an earlier probe's loop (still watching for its own,
      // older colour) stops here instead of writing a time that predates this change.
      const w = window as unknown as { __seenAt: number | null; __probe: number };
      const probe = (w.__probe ?? 0) + 1;
      w.__probe = probe;
      w.__seenAt = null;
      const check = () => {
        if (w.__probe !== probe || w.__seenAt !== null) return;
        if (v.videoWidth > 0) {
          g.drawImage(v, Math.floor((nx as number) * (v.videoWidth - 1)), Math.floor((ny as number) * (v.videoHeight - 1)), 1, 1, 0, 0, 1, 1);
          const d = g.getImageData(0, 0, 1, 1).data;
          const rgbWant = want as number[];
          if ([0, 1, 2].every((i) => Math.abs(d[i]! - rgbWant[i]!) <= 48)) w.__seenAt = performance.timeOrigin + performance.now();
        }
        v.requestVideoFrameCallback(check);
      };
      v.requestVideoFrameCallback(check);
    },
    [testId, at.x, at.y, rgb] as const,
  );
  const t0 = Date.now();
  await change();
  while (Date.now() - t0 < timeoutMs) {
    const seen = await page.evaluate(() => (window as unknown as { __seenAt: number | null }).__seenAt);
    if (seen !== null) return seen - offset - t0;
    await new Promise((r) => setTimeout(r, 25));
  }
  return null;
}
