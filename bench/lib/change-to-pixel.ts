/**
 * Screen change to pixel (bench/app.ts, bench/recording.ts): the X root window's colour changed
 * with xsetroot, timed to the viewer's probe seeing the new colour (bench/lib/screen-probe.ts).
 */
import type { Page } from 'playwright-core';
import { xsetroot } from '../../kit/e2e-stack.js';
import { colourSeenAt, expectColour } from './screen-probe.js';
import { sleep } from './stats.js';

/** Strongly different neighbours, so a half-updated frame never matches the next colour. */
const COLOURS: [string, [number, number, number]][] = [
  ['#ff0000', [255, 0, 0]],
  ['#00ff00', [0, 255, 0]],
  ['#0000ff', [0, 0, 255]],
  ['#ffff00', [255, 255, 0]],
  ['#ff00ff', [255, 0, 255]],
  ['#00ffff', [0, 255, 255]],
];
/**
 * `n` colour changes of the X root window, each timed from just before xsetroot is spawned (so the
 * process start counts against us) to the probe's first sample of the new colour on the viewer.
 * Pauses of random length between changes keep them out of step with the capture's frame clock.
 */
export async function changeToPixel(viewer: Page, display: string, offsetMs: number, n: number): Promise<{ ms: number[]; missed: number; xsetrootMs: number[] }> {
  const ms: number[] = [];
  const xsetrootMs: number[] = [];
  let missed = 0;
  for (let i = 0; i < n; i++) {
    const [hex, rgb] = COLOURS[i % COLOURS.length]!;
    await expectColour(viewer, rgb);
    const t0 = Date.now();
    await xsetroot(display, hex);
    xsetrootMs.push(Date.now() - t0);
    const seen = await colourSeenAt(viewer, offsetMs, 5000);
    if (seen === null) missed++;
    else ms.push(seen - t0);
    await sleep(150 + Math.random() * 250);
  }
  return { ms, missed, xsetrootMs };
}

