import type { StatsEntry } from '../../session/sender-settings.js';
import { pathOf, selectedPair } from '../../session/sender-settings.js';

/** What the viewer's readout shows, from the analyst's side of the connection. */
export interface Readout {
  width: number | null;
  height: number | null;
  fps: number | null;
  kbps: number | null;
  rttMs: number | null;
  path: 'relay' | 'direct' | null;
  /** The picture suffers from the link: it stutters, loses packets, or takes long to arrive. */
  degraded: boolean;
  /** Why, in the analyst's words, when degraded. */
  why: string | null;
}

/** The raw counters one sample keeps, to compare with the next. */
export interface Sample {
  at: number;
  bytes: number;
  frames: number;
  freezes: number;
  lost: number;
  received: number;
}

/** A link is called degraded at these marks (chosen so a quiet, static screen never is). */
export const DEGRADED = { lossShare: 0.05, rttMs: 800, freezesPerWindow: 1, fpsWhileFreezing: 8 };

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The video receiver's counters from one stats report. */
export function sampleOf(stats: Map<string, StatsEntry>, at: number): Sample | null {
  for (const r of stats.values()) {
    if (r.type !== 'inbound-rtp' || r.kind !== 'video') continue;
    return {
      at,
      bytes: num(r.bytesReceived) ?? 0,
      frames: num(r.framesDecoded) ?? 0,
      freezes: num(r.freezeCount) ?? 0,
      lost: num(r.packetsLost) ?? 0,
      received: num(r.packetsReceived) ?? 0,
    };
  }
  return null;
}

/** One readout from the stats now and the sample a window ago. */
export function readoutOf(stats: Map<string, StatsEntry>, prev: Sample | null, now: Sample | null): Readout {
  let width: number | null = null;
  let height: number | null = null;
  let fpsNow: number | null = null;
  for (const r of stats.values()) {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      width = num(r.frameWidth);
      height = num(r.frameHeight);
      fpsNow = num(r.framesPerSecond);
    }
  }
  const pair = selectedPair(stats);
  const rtt = num(pair?.currentRoundTripTime);
  const rttMs = rtt === null ? null : Math.round(rtt * 1000);
  let kbps: number | null = null;
  let fps = fpsNow;
  let degraded = false;
  let why: string | null = null;
  if (prev && now && now.at > prev.at) {
    const secs = (now.at - prev.at) / 1000;
    kbps = Math.round(((now.bytes - prev.bytes) * 8) / 1000 / secs);
    fps = Math.round(((now.frames - prev.frames) / secs) * 10) / 10;
    const sent = now.lost - prev.lost + (now.received - prev.received);
    const lossShare = sent > 0 ? (now.lost - prev.lost) / sent : 0;
    const freezes = now.freezes - prev.freezes;
    if (lossShare > DEGRADED.lossShare) why = `${Math.round(lossShare * 100)}% of the picture's packets are lost`;
    else if (rttMs !== null && rttMs > DEGRADED.rttMs) why = `the picture takes ${rttMs} ms to go there and back`;
    else if (freezes >= DEGRADED.freezesPerWindow && fps < DEGRADED.fpsWhileFreezing) why = `the picture stutters (${fps} frames a second, ${freezes} pauses)`;
    degraded = why !== null;
  }
  return { width, height, fps, kbps, rttMs, path: pathOf(stats), degraded, why };
}
