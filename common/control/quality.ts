/**
 * The analyst's quality menu and what each choice asks of the end user's sender. The end user's
 * side applies it (renderer/session/sender-settings.ts); the analyst only names a preset.
 *
 * Screen content is mostly text: every preset but Smooth keeps the display's resolution
 * (`maintain-resolution`: under a thin link the encoder drops frames, never pixels) and tells the
 * encoder the content is text or detail. Smooth trades sharpness for motion (video, animations).
 */
export const QUALITY_PRESETS = ['sharp', 'balanced', 'smooth'] as const;
export type QualityPreset = (typeof QUALITY_PRESETS)[number];
export const DEFAULT_QUALITY: QualityPreset = 'balanced';

export const QUALITY_LABELS: Record<QualityPreset, string> = { sharp: 'Sharp text', balanced: 'Balanced', smooth: 'Smooth' };

export interface SenderSettings {
  contentHint: 'text' | 'detail' | 'motion';
  degradationPreference: 'maintain-resolution' | 'maintain-framerate' | 'balanced';
  maxFramerate: number;
  /** Bits per second on a direct path; a TURN relay gets RELAY_BITRATE_SHARE of it. */
  maxBitrate: number;
}

export const PRESET_SETTINGS: Record<QualityPreset, SenderSettings> = {
  sharp: { contentHint: 'text', degradationPreference: 'maintain-resolution', maxFramerate: 15, maxBitrate: 2_500_000 },
  balanced: { contentHint: 'detail', degradationPreference: 'maintain-resolution', maxFramerate: 30, maxBitrate: 2_500_000 },
  smooth: { contentHint: 'motion', degradationPreference: 'maintain-framerate', maxFramerate: 30, maxBitrate: 4_000_000 },
};

/** A relay's bandwidth is shared by every session through it: ask for less there. */
export const RELAY_BITRATE_SHARE = 0.6;

/** The bitrate policy: the preset's ceiling, less through a relay. */
export function bitrateFor(preset: QualityPreset, path: 'relay' | 'direct'): number {
  const b = PRESET_SETTINGS[preset].maxBitrate;
  return path === 'relay' ? Math.round(b * RELAY_BITRATE_SHARE) : b;
}

/** The frame rate the capture is asked for: the most any preset sends. */
export const CAPTURE_FRAME_RATE = 30;
