import { PRESET_SETTINGS, bitrateFor, type QualityPreset } from '../../common/control/quality.js';

/**
 * Codec order offered for the screen (first the one we prefer; the rest stay as fallbacks so any
 * peer still negotiates), from `npm run bench -- app` (`details.codecs`: each codec alone, the
 * app's text settings, 1 Mbit/s, Debian's Chromium, bench/README.md). AV1 (libaom) sent text as
 * legibly as VP9 (SSIM 0.9995 against the X server's pixels, already 0.5 s after it appeared, where
 * VP8 was still at 0.992) at VP8's frame rate while scrolling (26 to 28 frames/s on the loaded
 * machine) for a third of VP8's bits and a little more encoder time (7.4 to 7.8 ms a frame, VP8
 * 5.6 to 5.9; VP9 10 to 11 ms at 16 to 23 frames/s; OpenH264 22 to 24 ms and the least legible).
 * VP8 next: the cheapest encoder, and what a peer without AV1 (the @roamhq/wrtc Node stack) has.
 */
export const CODEC_ORDER = ['video/AV1', 'video/VP8', 'video/VP9', 'video/H264'] as const;

type Caps = { mimeType: string; clockRate: number; sdpFmtpLine?: string; channels?: number };

/** Reorders the codecs of the screen's transceiver before the offer; a stack without the API keeps its own order. */
export function preferScreenCodecs(pc: RTCPeerConnection, track: MediaStreamTrack, order: readonly string[] = CODEC_ORDER): void {
  const t = pc.getTransceivers().find((x) => x.sender.track === track);
  const all = (globalThis as { RTCRtpSender?: { getCapabilities?(k: string): { codecs: Caps[] } | null } }).RTCRtpSender?.getCapabilities?.('video')?.codecs;
  if (!t || !all || typeof t.setCodecPreferences !== 'function') return;
  const rank = (c: Caps) => {
    const i = order.findIndex((m) => m.toLowerCase() === c.mimeType.toLowerCase());
    return i < 0 ? order.length : i;
  };
  try {
    t.setCodecPreferences([...all].sort((a, b) => rank(a) - rank(b)) as RTCRtpCodec[]);
  } catch {
    // Some stacks refuse a list they consider incomplete; their default order is still valid.
  }
}

/**
 * The preset on the live sender: the content hint on the track, and degradation preference,
 * frame-rate ceiling and bitrate ceiling on its encoding. The encoder may send fewer frames on a
 * static screen; it never sends more than the ceiling.
 */
export async function applySenderSettings(pc: RTCPeerConnection, track: MediaStreamTrack, preset: QualityPreset, path: 'relay' | 'direct', capBps?: number): Promise<boolean> {
  const s = PRESET_SETTINGS[preset];
  track.contentHint = s.contentHint;
  const sender = pc.getSenders().find((x) => x.track === track);
  if (!sender) return false;
  const p = sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
  if (!p.encodings?.length) return false;
  const bitrate = Math.min(bitrateFor(preset, path), capBps ?? Infinity);
  p.degradationPreference = s.degradationPreference;
  for (const e of p.encodings) {
    e.maxFramerate = s.maxFramerate;
    e.maxBitrate = bitrate;
    // Never scaled down by us: text stays at the display's resolution.
    e.scaleResolutionDownBy = 1;
  }
  try {
    await sender.setParameters(p);
    return true;
  } catch {
    return false;
  }
}

export type StatsEntry = Record<string, unknown> & { id: string; type: string };

/** A stats report as a plain map (the report's own iterator differs between stacks and typings). */
export async function statsMap(pc: RTCPeerConnection): Promise<Map<string, StatsEntry>> {
  const report = await pc.getStats();
  const m = new Map<string, StatsEntry>();
  (report as unknown as { forEach(fn: (r: StatsEntry) => void): void }).forEach((r) => m.set(r.id, r));
  return m;
}

/** The selected candidate pair: the transport's, or the nominated one where a stack names none. */
export function selectedPair(stats: Map<string, StatsEntry>): StatsEntry | null {
  for (const r of stats.values()) {
    if (r.type === 'transport' && typeof r.selectedCandidatePairId === 'string') {
      const p = stats.get(r.selectedCandidatePairId);
      if (p) return p;
    }
  }
  for (const r of stats.values()) if (r.type === 'candidate-pair' && r.nominated === true && r.state === 'succeeded') return r;
  return null;
}

/** Whether the selected candidate pair goes through a TURN relay (either end). */
export function pathOf(stats: Map<string, StatsEntry>): 'relay' | 'direct' | null {
  const pair = selectedPair(stats);
  if (!pair) return null;
  const kind = (id: unknown) => (typeof id === 'string' ? stats.get(id)?.candidateType : undefined);
  return kind(pair.localCandidateId) === 'relay' || kind(pair.remoteCandidateId) === 'relay' ? 'relay' : 'direct';
}

export async function selectedPath(pc: RTCPeerConnection): Promise<'relay' | 'direct' | null> {
  return pathOf(await statsMap(pc));
}
