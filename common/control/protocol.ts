import { z } from 'zod';
import { QUALITY_PRESETS } from './quality.js';
import { B64URL_32 } from '../sas.js';

/**
 * Remote input and chat on the WebRTC data channels. Pointer moves travel on an unordered channel
 * without retransmits (a late move is worthless); everything else on a reliable, ordered one.
 * Coordinates are normalised to the shared display (0..1), so the analyst's window size and the
 * end user's resolution never have to agree.
 */
export const CONTROL_CHANNELS = {
  pointer: { label: 'chaperone-pointer', ordered: false, maxRetransmits: 0 },
  reliable: { label: 'chaperone-control', ordered: true },
} as const;

export const MAX_CONTROL_MESSAGE_BYTES = 4096;
export const MAX_TYPED_TEXT_CHARS = 256;
export const MAX_CHAT_CHARS = 2000;
export const MAX_EVENTS_PER_SECOND = 1000;

const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const norm = z.number().min(0).max(1);
const displayCount = z.number().int().min(1).max(16);
const displaySide = z.number().int().min(1).max(32768);
const button = z.enum(['left', 'middle', 'right']);
/** KeyboardEvent.code and .key: short printable names, never arbitrary text. */
const keyCode = z.string().min(1).max(32).regex(/^[A-Za-z0-9]+$/);
const keyName = z.string().min(1).max(32);

export const ControlMessageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('move'), seq, x: norm, y: norm }).strict(),
  z.object({ t: z.literal('down'), seq, button, x: norm, y: norm }).strict(),
  z.object({ t: z.literal('up'), seq, button, x: norm, y: norm }).strict(),
  z.object({ t: z.literal('wheel'), seq, dx: z.number().int().min(-100).max(100), dy: z.number().int().min(-100).max(100) }).strict(),
  z.object({ t: z.literal('keydown'), seq, code: keyCode, key: keyName }).strict(),
  z.object({ t: z.literal('keyup'), seq, code: keyCode, key: keyName }).strict(),
  z.object({ t: z.literal('text'), seq, text: z.string().min(1).max(MAX_TYPED_TEXT_CHARS) }).strict(),
  z.object({ t: z.literal('chat'), seq, text: z.string().min(1).max(MAX_CHAT_CHARS) }).strict(),
]);
export type ControlMessage = z.infer<typeof ControlMessageSchema>;
export type InputMessage = Exclude<ControlMessage, { t: 'chat' }>;
/** A message before the sender numbers it. */
export type ControlDraft = ControlMessage extends infer T ? (T extends unknown ? Omit<T, 'seq'> : never) : never;

/**
 * Messages of the session itself on the reliable channel, both directions, handled by the session
 * engine and never passed to the input gate: the verification code's reveal, whether the end
 * user's screen is being sent (only the end user sends `share`), the analyst's quality choice
 * (only the analyst sends `quality`; common/control/quality.ts), and which display is shown (only
 * the end user sends `display`).
 */
export const SessionMessageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('sas-reveal'), seq, value: z.string().regex(B64URL_32) }).strict(),
  z.object({ t: z.literal('share'), seq, paused: z.boolean() }).strict(),
  z.object({ t: z.literal('quality'), seq, preset: z.enum(QUALITY_PRESETS) }).strict(),
  /** Which of the end user's displays is shown (only the end user sends it): "Display 2 of 2, 1280×720". */
  z.object({ t: z.literal('display'), seq, index: displayCount, count: displayCount, width: displaySide, height: displaySide }).strict(),
  /** End user: this computer's input gate takes the analyst's input now (sent once main switched control on). */
  z.object({ t: z.literal('control-live'), seq }).strict(),
]);
export type SessionMessage = z.infer<typeof SessionMessageSchema>;
const SESSION_TYPES: ReadonlySet<string> = new Set(['sas-reveal', 'share', 'quality', 'display', 'control-live']);

/**
 * A reliable-channel message that belongs to the session engine: `{ok: true, msg}`, or
 * `{ok: false}` when it claims a session type but does not fit (dropped). Null for anything else,
 * which goes on to the input gate (end user) or the chat filter (analyst) untouched.
 */
export function decodeSessionMessage(data: string): { ok: true; msg: SessionMessage } | { ok: false } | null {
  if (data.length > MAX_CONTROL_MESSAGE_BYTES) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  const t = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as { t?: unknown }).t : undefined;
  if (typeof t !== 'string' || !SESSION_TYPES.has(t)) return null;
  const r = SessionMessageSchema.safeParse(raw);
  return r.success ? { ok: true, msg: r.data } : { ok: false };
}

export type DropReason = 'too_large' | 'not_json' | 'invalid' | 'rate_limited' | 'wrong_channel';

export type Decoded = { ok: true; msg: ControlMessage } | { ok: false; reason: DropReason };

/** Parses one data-channel message as untrusted input. Never throws. */
export function decodeControl(data: unknown, channel: keyof typeof CONTROL_CHANNELS): Decoded {
  if (typeof data !== 'string') return { ok: false, reason: 'invalid' };
  if (data.length > MAX_CONTROL_MESSAGE_BYTES) return { ok: false, reason: 'too_large' };
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  const r = ControlMessageSchema.safeParse(raw);
  if (!r.success) return { ok: false, reason: 'invalid' };
  const onPointer = r.data.t === 'move';
  if (onPointer !== (channel === 'pointer')) return { ok: false, reason: 'wrong_channel' };
  return { ok: true, msg: r.data };
}

/** Sliding one-second budget: events beyond it are dropped and counted, not queued. */
export class EventRateLimiter {
  private windowStart = 0;
  private count = 0;

  constructor(private readonly perSecond = MAX_EVENTS_PER_SECOND) {}

  allow(nowMs: number): boolean {
    if (nowMs - this.windowStart >= 1000) {
      this.windowStart = nowMs;
      this.count = 0;
    }
    this.count++;
    return this.count <= this.perSecond;
  }
}
