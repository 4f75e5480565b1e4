import type { Page } from 'playwright-core';

/** A colour shown from `fromMs` (after the recorder started) until the next one. */
export interface ColourStep {
  fromMs: number;
  rgb: [number, number, number];
}

/**
 * Records a canvas painted in known colours at known times with Chromium's MediaRecorder, as the
 * end user's recorder does (WebM VP8, a timeslice), and returns its chunks in order. With
 * `alpha` Chromium writes a BlockGroup per frame (BlockAdditions), without it SimpleBlocks.
 */
export async function recordColours(page: Page, steps: readonly ColourStep[], totalMs: number, opts: { alpha: boolean; timesliceMs?: number }): Promise<Buffer[]> {
  const chunks = await page.evaluate(
    async ({ steps, totalMs, alpha, timesliceMs }) => {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      document.body.append(canvas);
      const g = canvas.getContext('2d', { alpha })!;
      const started = performance.now();
      let tick = 0;
      const paint = (): void => {
        const t = performance.now() - started;
        const step = [...steps].reverse().find((s) => s.fromMs <= t) ?? steps[0]!;
        g.fillStyle = `rgb(${step.rgb.join(',')})`;
        g.fillRect(0, 0, canvas.width, canvas.height);
        // A changing pixel in a corner keeps the encoder producing frames.
        g.fillStyle = tick++ % 2 ? '#000' : '#fff';
        g.fillRect(0, 0, 4, 4);
      };
      paint();
      const timer = setInterval(paint, 40);
      const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: 'video/webm;codecs=vp8', videoBitsPerSecond: 400_000 });
      const out: Promise<number[]>[] = [];
      recorder.ondataavailable = (e) => out.push(e.data.arrayBuffer().then((b) => Array.from(new Uint8Array(b))));
      const stopped = new Promise((r) => (recorder.onstop = r));
      recorder.start(timesliceMs);
      await new Promise((r) => setTimeout(r, totalMs));
      recorder.stop();
      await stopped;
      clearInterval(timer);
      return Promise.all(out);
    },
    { steps, totalMs, alpha: opts.alpha, timesliceMs: opts.timesliceMs ?? 1000 },
  );
  return chunks.filter((c) => c.length > 0).map((c) => Buffer.from(c));
}

/** Plays WebM bytes in the page (a blob URL), seeks to `atS` and returns the video's size, duration and the centre pixel there. */
export async function frameAt(page: Page, webm: Buffer, atS: number): Promise<{ duration: number; seekableEnd: number; rgb: [number, number, number] }> {
  return page.evaluate(
    async ({ b64, atS }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const video = document.createElement('video');
      video.muted = true;
      video.src = URL.createObjectURL(new Blob([bytes], { type: 'video/webm' }));
      document.body.append(video);
      await new Promise((r, j) => {
        video.onloadedmetadata = r;
        video.onerror = () => j(new Error(`video error ${video.error?.code}`));
      });
      // The frame is painted once it is presented, which on a busy machine can come after 'seeked':
      // drawing before then reads a transparent, black pixel that no recording ever held.
      const presented = new Promise((r) => {
        video.requestVideoFrameCallback(() => r(null));
        setTimeout(r, 3000);
      });
      video.currentTime = atS;
      await new Promise((r) => (video.onseeked = r));
      if (video.readyState < 2) await new Promise((r) => video.addEventListener('loadeddata', r, { once: true }));
      await presented;
      const c = document.createElement('canvas');
      c.width = video.videoWidth;
      c.height = video.videoHeight;
      const g = c.getContext('2d')!;
      g.drawImage(video, 0, 0);
      const d = g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
      const seekableEnd = video.seekable.length > 0 ? video.seekable.end(video.seekable.length - 1) : 0;
      const out = { duration: video.duration, seekableEnd, rgb: [d[0]!, d[1]!, d[2]!] as [number, number, number] };
      video.remove();
      return out;
    },
    { b64: webm.toString('base64'), atS },
  );
}
