/**
 * What the recording bench (bench/recording.ts) watches inside the end user's page, installed
 * before the app's code runs: every chunk MediaRecorder hands out (when, how large) and when the
 * broker answered its upload, so the ack lag is "chunk produced to acked" on one clock. It can
 * also hide VP9 from the recorder's codec choice, to measure VP8 on the same screen.
 */
import type { Page } from 'playwright-core';

export const RECORDER_PROBE = `(() => {
  const R = window.MediaRecorder;
  if (!R) return;
  const probe = { chunks: [], acked: {}, mime: null, hideVp9: false };
  probe.reset = (hideVp9) => { probe.chunks = []; probe.acked = {}; probe.mime = null; probe.hideVp9 = hideVp9; };
  window.__recProbe = probe;
  window.MediaRecorder = class extends R {
    static isTypeSupported(t) { return probe.hideVp9 && /vp9/i.test(t) ? false : R.isTypeSupported(t); }
    constructor(stream, o) {
      super(stream, o);
      probe.mime = (o && o.mimeType) || null;
      this.addEventListener('dataavailable', (e) => { if (e.data.size > 0) probe.chunks.push({ at: performance.timeOrigin + performance.now(), bytes: e.data.size }); });
    }
  };
  const f = window.fetch;
  window.fetch = async (input, init) => {
    const r = await f(input, init);
    const m = /\\/recording\\/chunks\\/(\\d+)$/.exec(typeof input === 'string' ? input : input.url || String(input));
    if (m && r.ok) probe.acked[m[1]] = performance.timeOrigin + performance.now();
    return r;
  };
})();`;

export interface ProbeReading {
  mime: string | null;
  /** Page clock (ms since the epoch) and size of each chunk, in seq order. */
  chunks: { at: number; bytes: number }[];
  acked: Record<string, number>;
}

export const resetProbe = (page: Page, hideVp9: boolean): Promise<void> => page.evaluate(`window.__recProbe.reset(${hideVp9})`) as Promise<void>;

export const readProbe = (page: Page): Promise<ProbeReading> => page.evaluate(`({ mime: window.__recProbe.mime, chunks: window.__recProbe.chunks, acked: window.__recProbe.acked })`) as Promise<ProbeReading>;

/** Produced to acked for each chunk that was acked. */
export function ackLags(r: ProbeReading): number[] {
  return r.chunks.flatMap((c, seq) => (r.acked[seq] === undefined ? [] : [r.acked[seq] - c.at]));
}

/**
 * Bits per second of the chunks produced within [from, to] (page clock): chunk k holds what was
 * recorded since chunk k-1, so the span is from the chunk before the first counted to the last.
 */
export function kbpsWithin(r: ProbeReading, from: number, to: number): { kbps: number; seconds: number } | null {
  const idx = r.chunks.flatMap((c, i) => (i > 0 && c.at > from && c.at <= to ? [i] : []));
  if (idx.length < 2) return null;
  const bytes = idx.reduce((n, i) => n + r.chunks[i]!.bytes, 0);
  const seconds = (r.chunks[idx[idx.length - 1]!]!.at - r.chunks[idx[0]! - 1]!.at) / 1000;
  return { kbps: (bytes * 8) / seconds / 1000, seconds };
}
