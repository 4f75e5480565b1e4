/**
 * The picture, through both apps on the real X display: the end user's sender carries the screen
 * settings (content hint, degradation preference, frame-rate and bitrate ceilings, the preferred
 * codec) read back from getParameters/getStats; the analyst's quality menu changes them on the
 * end user's side; the readout shows the link's real numbers; and a link squeezed to 200 kbit/s
 * while the screen moves shows the degraded notice, which goes once the link recovers.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, missingTools, requestSession, signIn } from '../../kit/e2e-stack.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { axeSerious, shot } from './page-checks.js';
import { CODEC_ORDER } from '../../renderer/session/sender-settings.js';

const SUITE = 'the app end to end: screen settings, quality menu, readout, degraded link';
const skip = skipWithout(SUITE, missingTools());

/** Keeps every peer connection the page makes reachable from the test (the app keeps its own private). */
const RECORD_PCS = `(() => {
  const P = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends P { constructor(...a) { super(...a); window.__pcs.push(this); } };
})();`;

interface SenderView {
  contentHint: string;
  degradationPreference: string | null;
  maxFramerate: number | null;
  maxBitrate: number | null;
  codec: string | null;
  frameWidth: number | null;
}

function senderView(page: Page): Promise<SenderView | null> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs ?? [];
    const pc = pcs.find((p) => p.connectionState !== 'closed' && p.getSenders().some((s) => s.track?.kind === 'video'));
    if (!pc) return null;
    const sender = pc.getSenders().find((s) => s.track?.kind === 'video')!;
    const p = sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
    const stats = await pc.getStats();
    let codec: string | null = null;
    let frameWidth: number | null = null;
    stats.forEach((r: { type: string; kind?: string; codecId?: string; frameWidth?: number }) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video') {
        frameWidth = r.frameWidth ?? null;
        if (r.codecId) codec = ((stats as unknown as Map<string, { mimeType?: string }>).get(r.codecId))?.mimeType ?? null;
      }
    });
    return {
      contentHint: sender.track!.contentHint,
      degradationPreference: p.degradationPreference ?? null,
      maxFramerate: p.encodings[0]?.maxFramerate ?? null,
      maxBitrate: p.encodings[0]?.maxBitrate ?? null,
      codec,
      frameWidth,
    };
  });
}

/** The end user's sender capped (the test's stand-in for a thin link): null lifts the cap. */
function capSender(page: Page, bps: number | null): Promise<void> {
  return page.evaluate(async (bps) => {
    const pc = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.find((p) => p.connectionState !== 'closed')!;
    const sender = pc.getSenders().find((s) => s.track?.kind === 'video')!;
    const p = sender.getParameters();
    p.encodings[0]!.maxBitrate = bps ?? 2_500_000;
    await sender.setParameters(p);
  }, bps);
}

/** Noise over the target window every frame: content no encoder can make small. */
function moveScreen(page: Page, on: boolean): Promise<void> {
  return page.evaluate((on) => {
    const w = window as unknown as { __noise?: number };
    if (!on) {
      cancelAnimationFrame(w.__noise ?? 0);
      document.getElementById('noise')?.remove();
      return;
    }
    const c = document.createElement('canvas');
    c.id = 'noise';
    c.width = 540;
    c.height = 380;
    c.style.cssText = 'position:fixed;left:0;top:0;z-index:9';
    document.body.append(c);
    const g = c.getContext('2d')!;
    const img = g.createImageData(c.width, c.height);
    const step = () => {
      for (let i = 0; i < img.data.length; i += 4) {
        const v = (Math.random() * 255) | 0;
        img.data[i] = v;
        img.data[i + 1] = (v * 7) & 255;
        img.data[i + 2] = (v * 13) & 255;
        img.data[i + 3] = 255;
      }
      g.putImageData(img, 0, 0);
      w.__noise = requestAnimationFrame(step);
    };
    step();
  }, on);
}

describe.skipIf(skip)(SUITE, () => {
  let s: Stack;
  beforeAll(async () => {
    s = await Stack.start();
  });
  afterAll(async () => s?.close());

  it('the sender is set for screen content, the menu changes it, the readout is real, a thin link is said plainly', async () => {
    const euHost = await s.host('end_user');
    const anHost = await s.host('staff');
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket: `INC-${Date.now() % 100000}`, reason: 'Blurry picture' });
    await an.page.getByTestId('join-code').waitFor({ timeout: 15_000 });
    const code = (await an.page.getByTestId('join-code').textContent())!.trim();
    const eu = await s.endUserPage(euHost);
    await eu.page.context().addInitScript(RECORD_PCS);
    await eu.page.reload();
    await eu.page.getByLabel('Join code').fill(code);
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    await an.page.getByTestId('viewer-sas').waitFor({ timeout: 30_000 });

    // Balanced, the default: text detail, resolution kept, up to 30 frames, 2.5 Mbit/s on a direct path.
    await expect.poll(async () => (await senderView(eu.page))?.degradationPreference, { timeout: 15_000 }).toBe('maintain-resolution');
    const v = (await senderView(eu.page))!;
    expect(v).toMatchObject({ contentHint: 'detail', maxFramerate: 30, maxBitrate: 2_500_000 });
    await expect.poll(async () => (await senderView(eu.page))?.codec, { timeout: 10_000 }).toBe(CODEC_ORDER[0]);

    // The readout: the display's size, frames, bits, round trip and the path, all measured.
    await expect.poll(() => an.page.getByTestId('readout-size').textContent(), { timeout: 15_000 }).toBe('1280×720');
    await expect.poll(async () => Number((await an.page.getByTestId('readout-kbps').textContent())!.split(' ')[0]), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await an.page.getByTestId('readout-path').textContent()).toBe('direct');
    await expect.poll(async () => /^\d+ ms round trip$/.test((await an.page.getByTestId('readout-rtt').textContent()) ?? ''), { timeout: 10_000 }).toBe(true);
    expect(await an.page.getByTestId('readout-fps').textContent()).toMatch(/^\d+(\.\d)? fps$/);

    // Sharp text and Smooth, chosen by the analyst, applied by the end user's side.
    await an.page.getByTestId('quality-menu').selectOption('sharp');
    await expect.poll(async () => (await senderView(eu.page))?.contentHint, { timeout: 10_000 }).toBe('text');
    expect(await senderView(eu.page)).toMatchObject({ degradationPreference: 'maintain-resolution', maxFramerate: 15 });
    await an.page.getByTestId('quality-menu').selectOption('smooth');
    await expect.poll(async () => (await senderView(eu.page))?.contentHint, { timeout: 10_000 }).toBe('motion');
    expect(await senderView(eu.page)).toMatchObject({ degradationPreference: 'maintain-framerate', maxFramerate: 30, maxBitrate: 4_000_000 });
    await an.page.getByTestId('quality-menu').selectOption('balanced');
    await expect.poll(async () => (await senderView(eu.page))?.contentHint, { timeout: 10_000 }).toBe('detail');
    await shot(an.page, '60-analyst-picture-readout');
    expect(await axeSerious(an.page)).toEqual([]);

    // A thin link while the screen moves: the analyst is told, and the notice goes when it recovers.
    await moveScreen(s.target.page, true);
    await capSender(eu.page, 200_000);
    await an.page.getByTestId('link-degraded').waitFor({ timeout: 30_000 });
    await shot(an.page, '61-analyst-link-degraded');
    await moveScreen(s.target.page, false);
    await capSender(eu.page, null);
    await an.page.getByTestId('link-degraded').waitFor({ state: 'detached', timeout: 30_000 });
    expect(await an.page.getByTestId('viewer-state').textContent()).toBe('View only');
  });
});
