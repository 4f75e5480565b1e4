import { normalizeJoinCode, formatJoinCode } from '../../common/join-code.js';

/** Pure helpers the screens use; tested in Node (test/unit/app-format.test.ts). */

/** 754 s -> "12:34"; never negative; hours roll into minutes ("75:00"). */
export function mmss(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** "12 minutes 34 seconds", for screen readers. */
export function spokenDuration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(s / 60);
  const r = s % 60;
  const parts: string[] = [];
  if (m > 0) parts.push(`${m} minute${m === 1 ? '' : 's'}`);
  if (r > 0 || m === 0) parts.push(`${r} second${r === 1 ? '' : 's'}`);
  return parts.join(' ');
}

/** The notice when nobody answered the control prompt in its time (the machine policy's, default 30 s). */
export function controlPromptTimedOut(seconds: number): string {
  return `The control request was denied because nobody answered within ${spokenDuration(seconds * 1000)}.`;
}

/** 1800 -> "30 minutes"; 5400 -> "1 hour 30 minutes". */
export function durationText(seconds: number): string {
  const m = Math.round(seconds / 60);
  const h = Math.floor(m / 60);
  const r = m % 60;
  const parts: string[] = [];
  if (h > 0) parts.push(`${h} hour${h === 1 ? '' : 's'}`);
  if (r > 0 || h === 0) parts.push(`${r} minute${r === 1 ? '' : 's'}`);
  return parts.join(' ');
}

/**
 * What a person pastes or types: a code with or without the dash, in any case, or a
 * chaperone://join/CODE link (also the https form of it). Returns the canonical code or null.
 */
export function parseJoinInput(input: string): string | null {
  const t = input.trim();
  if (t.length === 0 || t.length > 200) return null;
  const link = /^(?:chaperone:\/\/join\/|https?:\/\/[^/]+\/join\/)([A-Za-z0-9 -]{1,40})\/?$/i.exec(t);
  return normalizeJoinCode(link ? link[1]! : t);
}

export function displayCode(code: string): string {
  return formatJoinCode(code);
}

/** How long ago the analyst last passed MFA, in words a person can judge. */
export function mfaFreshness(mfaAtSeconds: number | null, nowMs: number): string {
  if (mfaAtSeconds === null) return 'no second factor on record';
  const ago = Math.max(0, Math.round(nowMs / 1000 - mfaAtSeconds));
  if (ago < 90) return 'passed MFA just now';
  const m = Math.round(ago / 60);
  if (m < 90) return `passed MFA ${m} minutes ago`;
  const h = Math.round(m / 60);
  return `passed MFA ${h} hour${h === 1 ? '' : 's'} ago`;
}

/** What an `amr` value (RFC 8176) means to someone who is not an identity engineer. */
const AMR_WORDS: Record<string, string> = {
  pwd: 'password',
  mfa: 'more than one factor',
  otp: 'one-time code',
  hwk: 'security key',
  swk: 'software key',
  fido: 'passkey or security key',
  pop: 'device key',
  sms: 'text message code',
  face: 'face recognition',
  fpt: 'fingerprint',
  pin: 'PIN',
  rba: 'risk check',
};

function issuerHost(issuer: string): string {
  try {
    return new URL(issuer).host;
  } catch {
    return issuer;
  }
}

/**
 * A single sign-on analyst: the organisation's identity provider vouched for them, and said when
 * and how they authenticated there (from its ID token, inside the signed offer).
 */
export function ssoVerificationText(v: { issuer?: string | undefined; amr?: string[] | undefined; acr?: string | null | undefined; mfa_at: number | null }, nowMs: number): string {
  const how = (v.amr ?? []).map((m) => AMR_WORDS[m] ?? m);
  const when = v.mfa_at === null ? 'when they last authenticated is not known' : `authenticated there ${mfaFreshness(v.mfa_at, nowMs).replace(/^passed MFA /, '')}`;
  return [
    `verified by your organisation's identity provider (${issuerHost(v.issuer ?? 'unknown')})`,
    when + (how.length ? ` with ${listWords(how)}` : ''),
    ...(v.acr ? [`assurance level "${v.acr}"`] : []),
  ].join('; ');
}

function listWords(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)!}`;
}

export function verificationText(method: string): string {
  switch (method) {
    case 'password+totp':
      return 'signed in with password and authenticator code';
    case 'password':
      return 'signed in with a password only';
    default:
      return method;
  }
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * A pointer position over a video shown with `object-fit: contain` to the normalised position on
 * the shared screen (0..1, top-left origin): the fraction of the shown frame's width and height
 * (divided by width, not width - 1; the end user's pixel is floor(x * width): main/injector.ts).
 * Null over the letterbox bars or with no frame yet.
 */
export function mapPointer(clientX: number, clientY: number, box: Box, videoWidth: number, videoHeight: number): { x: number; y: number } | null {
  if (videoWidth <= 0 || videoHeight <= 0 || box.width <= 0 || box.height <= 0) return null;
  const scale = Math.min(box.width / videoWidth, box.height / videoHeight);
  const w = videoWidth * scale;
  const h = videoHeight * scale;
  const left = box.left + (box.width - w) / 2;
  const top = box.top + (box.height - h) / 2;
  const x = (clientX - left) / w;
  const y = (clientY - top) / h;
  if (x < 0 || y < 0 || x > 1 || y > 1) return null;
  return { x, y };
}

/** KeyboardEvent fields the control protocol carries; null for keys it cannot (IME composition, odd codes). */
export function keyFields(code: string, key: string): { code: string; key: string } | null {
  if (!/^[A-Za-z0-9]{1,32}$/.test(code)) return null;
  if (key.length < 1 || key.length > 32 || key === 'Dead' || key === 'Process' || key === 'Unidentified') return null;
  return { code, key };
}

export { ANALYST_END_TEXT, END_REASON_TEXT } from './end-reasons.js';

/** The banner's line when the broker took control back because the recording stalled. */
export const RECORDING_STALLED_END_USER = 'The recording of this session stopped reaching your organisation, so control was switched off. Your screen is still shared.';
export const RECORDING_STALLED_ANALYST = 'The end user\'s recording stopped reaching the broker, so control was taken back. Ask again once it recovers; the session ends if it does not.';

export const GRANT_NAMES: Record<string, string> = {
  capture: 'screen sharing',
  control: 'mouse and keyboard control',
  clipboard: 'clipboard access',
  files: 'file transfer',
};

/** Join a list the way people say it: "a, b and c". */
export function listText(items: string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export interface KeyEventLike {
  code: string;
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
  metaKey: boolean;
}

/** What the viewer sends for keys; the same shapes as the control protocol's drafts. */
export type KeyMessage = { t: 'text'; text: string } | { t: 'keydown' | 'keyup'; code: string; key: string };

const MODIFIERS: readonly { flag: 'ctrlKey' | 'altKey' | 'shiftKey' | 'metaKey'; code: string; key: string }[] = [
  { flag: 'ctrlKey', code: 'ControlLeft', key: 'Control' },
  { flag: 'altKey', code: 'AltLeft', key: 'Alt' },
  { flag: 'shiftKey', code: 'ShiftLeft', key: 'Shift' },
  { flag: 'metaKey', code: 'MetaLeft', key: 'Meta' },
];
const MODIFIER_KEYS = new Set(['Control', 'Alt', 'AltGraph', 'Shift', 'Meta', 'CapsLock', 'OS']);

/**
 * Turns the analyst's key events into control messages. A character typed without Ctrl, Alt or
 * Meta travels as `text` (the end user gets the character the analyst saw, capitals included,
 * whatever the two keyboard layouts are). Everything else (Enter, arrows, shortcuts such as
 * Ctrl+C, Shift+arrow) travels as key presses, with the modifiers that were held pressed first and
 * released last. A lone modifier sends nothing until it is used. Never sends a key up for a key it
 * did not send down.
 */
export class KeyTranslator {
  private readonly pressed = new Map<string, string>();
  private readonly mods = new Map<string, string>();

  down(e: KeyEventLike): KeyMessage[] {
    if (MODIFIER_KEYS.has(e.key)) return [];
    if (e.key.length === 1 && !e.ctrlKey && !e.altKey && !e.metaKey) return [{ t: 'text', text: e.key }];
    const k = keyFields(e.code, e.key);
    if (!k) return [];
    const out: KeyMessage[] = [];
    for (const m of MODIFIERS) {
      if (e[m.flag] && !this.mods.has(m.code)) {
        this.mods.set(m.code, m.key);
        out.push({ t: 'keydown', code: m.code, key: m.key });
      }
    }
    this.pressed.set(k.code, k.key);
    out.push({ t: 'keydown', ...k });
    return out;
  }

  up(e: KeyEventLike): KeyMessage[] {
    const key = this.pressed.get(e.code);
    if (key !== undefined) {
      this.pressed.delete(e.code);
      const out: KeyMessage[] = [{ t: 'keyup', code: e.code, key }];
      if (this.pressed.size === 0) out.push(...this.releaseMods());
      return out;
    }
    // A modifier let go while a key is still down.
    for (const m of MODIFIERS) {
      if (MODIFIER_KEYS.has(e.key) && m.key === e.key && this.mods.has(m.code)) {
        this.mods.delete(m.code);
        return [{ t: 'keyup', code: m.code, key: m.key }];
      }
    }
    return [];
  }

  /** Focus left the viewer or control ended: let go of everything this sent down. */
  releaseAll(): KeyMessage[] {
    const out: KeyMessage[] = [...this.pressed].map(([code, key]) => ({ t: 'keyup' as const, code, key }));
    this.pressed.clear();
    return [...out, ...this.releaseMods()];
  }

  private releaseMods(): KeyMessage[] {
    const out = [...this.mods].reverse().map(([code, key]) => ({ t: 'keyup' as const, code, key }));
    this.mods.clear();
    return out;
  }
}
