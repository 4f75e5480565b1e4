import {
  CONTROL_CHANNELS,
  decodeControl,
  EventRateLimiter,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_EVENTS_PER_SECOND,
  type ControlMessage,
  type DropReason,
} from '../common/control/protocol.js';
import { missingCase } from '../common/missing-case.js';
import type { TranscriptEntry } from '../common/recording.js';
import type { GrantKind, GrantRecord, RevokedListener } from './grants.js';
import type { Injector, PointerButton, ScreenRect } from './injector.js';
import { onDesktop } from './displays.js';
import { chordPart, completesChord, type ChordPart } from './panic.js';

export interface GateCounters {
  injected: number;
  chat: number;
  refused_no_grant: number;
  refused_inactive: number;
  /** Input while the session is interrupted (the peer reconnecting): control is locked. */
  refused_interrupted: number;
  /** Key events refused because they would complete the panic chord. */
  refused_panic: number;
  dropped_rate: number;
  dropped_invalid: number;
  /** Older than what this sender already sent (a replay, or a move overtaken by newer input). */
  dropped_stale: number;
  /** A message type this version does not know, or a key with no mapping on this desktop. */
  dropped_unknown: number;
  /** The injector threw (its connection to the desktop is gone). */
  inject_failed: number;
}

export type GateOutcome = keyof GateCounters;

export function zeroCounters(): GateCounters {
  return {
    injected: 0,
    chat: 0,
    refused_no_grant: 0,
    refused_inactive: 0,
    refused_interrupted: 0,
    refused_panic: 0,
    dropped_rate: 0,
    dropped_invalid: 0,
    dropped_stale: 0,
    dropped_unknown: 0,
    inject_failed: 0,
  };
}

/** The slice of the GrantRegistry the gate needs. */
export interface ControlGrants {
  isActive(kind: GrantKind, sessionId: string): boolean;
  onRevoked(fn: RevokedListener): () => void;
}

export interface InputGateOptions {
  grants: ControlGrants;
  /** Whether the session is active right now (consent given, not ended). */
  isSessionActive: (sessionId: string) => boolean;
  injector: Injector;
  counters?: GateCounters;
  onChat?: (sessionId: string, text: string) => void;
  /** What the analyst did, as this gate decided it, for the session's transcript (main/transcript.ts). */
  onTranscript?: (sessionId: string, entry: TranscriptEntry) => void;
  now?: () => number;
  perSecond?: number;
}

const KNOWN_TYPES: Record<ControlMessage['t'], true> = {
  move: true,
  down: true,
  up: true,
  wheel: true,
  keydown: true,
  keyup: true,
  text: true,
  chat: true,
};

/**
 * Every remote input message passes here before it can touch the desktop. In order: the rate
 * budget (first, so a flood of garbage cannot buy parsing time), the decoder, the session being
 * active, the session not being interrupted, the control grant for that very session, the panic chord. Nothing is queued: an event
 * refused now is gone. `handle` never throws.
 */
export class InputGate {
  readonly counters: GateCounters;
  private readonly grants: ControlGrants;
  private readonly isSessionActive: (sessionId: string) => boolean;
  private readonly injector: Injector;
  private readonly onChat: (sessionId: string, text: string) => void;
  private readonly onTranscript: ((sessionId: string, entry: TranscriptEntry) => void) | undefined;
  /** The message the last `decide` decoded, for the transcript. */
  private decoded: ControlMessage | null = null;
  private readonly now: () => number;
  private readonly limiter: EventRateLimiter;
  /** Keys the remote side holds down, by code, with the chord part each one is (if any). */
  private readonly heldKeys = new Map<string, ChordPart | null>();
  private readonly heldButtons = new Set<PointerButton>();
  /** Sessions whose connection is interrupted right now: control is locked until they resume. */
  private readonly interrupted = new Set<string>();
  /** Per session, the sender's newest seq on the reliable channel and on either channel. */
  private readonly seqs = new Map<string, { reliable: number; any: number }>();
  private readonly unsubscribe: () => void;
  /**
   * The display being shared, in the injector's desktop pixels: the analyst's coordinates are
   * fractions of the picture of it, not of the whole desktop. Null: the whole desktop is shared.
   */
  private shown: ScreenRect | null = null;

  constructor(opts: InputGateOptions) {
    this.grants = opts.grants;
    this.isSessionActive = opts.isSessionActive;
    this.injector = opts.injector;
    this.counters = opts.counters ?? zeroCounters();
    this.onChat = opts.onChat ?? (() => {});
    this.onTranscript = opts.onTranscript;
    this.now = opts.now ?? Date.now;
    this.limiter = new EventRateLimiter(opts.perSecond ?? MAX_EVENTS_PER_SECOND);
    this.unsubscribe = this.grants.onRevoked((grant: GrantRecord) => {
      // Whoever took control away, nothing the analyst pressed may stay down after it.
      if (grant.kind === 'control') this.releaseAll();
    });
  }

  handle(sessionId: string, raw: unknown, channel: keyof typeof CONTROL_CHANNELS): GateOutcome {
    this.decoded = null;
    const outcome = this.decide(sessionId, raw, channel);
    this.counters[outcome]++;
    const entry = this.onTranscript && this.decoded ? transcriptEntry(this.decoded, outcome, this.now()) : null;
    if (entry) this.onTranscript!(sessionId, entry);
    return outcome;
  }

  /**
   * The session's connection is interrupted (signaling or ICE lost, the peer reconnecting): no
   * input is injected until `resume`, whatever still arrives on the data channel, and nothing
   * the analyst held stays down meanwhile. Chat still passes.
   */
  interrupt(sessionId: string): void {
    this.interrupted.add(sessionId);
    this.releaseAll();
  }

  resume(sessionId: string): void {
    this.interrupted.delete(sessionId);
  }

  isInterrupted(sessionId: string): boolean {
    return this.interrupted.has(sessionId);
  }

  /** The session ended: nothing of it is kept. */
  forget(sessionId: string): void {
    this.interrupted.delete(sessionId);
    this.seqs.delete(sessionId);
  }

  /** The end user shares another display (or the whole desktop, null): the pointer follows it. */
  showDisplay(rect: ScreenRect | null): void {
    this.shown = rect ? { ...rect } : null;
  }

  /** Lets go of every key and button the remote side holds. */
  releaseAll(): void {
    this.heldKeys.clear();
    this.heldButtons.clear();
    try {
      this.injector.releaseAll();
    } catch {
      // A closed injector holds nothing down any more.
    }
  }

  close(): void {
    this.unsubscribe();
    this.releaseAll();
  }

  private decide(sessionId: string, raw: unknown, channel: keyof typeof CONTROL_CHANNELS): GateOutcome {
    if (!this.limiter.allow(this.now())) return 'dropped_rate';
    const decoded = decodeControl(raw, channel);
    if (!decoded.ok) return dropOutcome(decoded.reason, raw);
    const msg = decoded.msg;
    this.decoded = msg;

    if (!this.isSessionActive(sessionId)) {
      this.releaseIfHeld();
      return 'refused_inactive';
    }
    if (this.stale(sessionId, msg)) return 'dropped_stale';
    if (msg.t === 'chat') {
      this.onChat(sessionId, msg.text);
      return 'chat';
    }
    if (this.interrupted.has(sessionId)) return 'refused_interrupted';
    if (!this.grants.isActive('control', sessionId)) {
      // The revoke listener normally got here first; an expiry whose timer is late did not.
      this.releaseIfHeld();
      return 'refused_no_grant';
    }
    try {
      return this.inject(msg);
    } catch {
      return 'inject_failed';
    }
  }

  /** A point on the analyst's picture, as the injector's normalised desktop point. */
  private point(x: number, y: number): [number, number] {
    const r = this.shown;
    const desk = this.injector.screen;
    if (!r || desk.width <= 0 || desk.height <= 0) return [x, y];
    return [onDesktop(x, r.x, r.width, desk.x, desk.width), onDesktop(y, r.y, r.height, desk.y, desk.height)];
  }

  private inject(msg: Exclude<ControlMessage, { t: 'chat' }>): GateOutcome {
    const inj = this.injector;
    switch (msg.t) {
      case 'move':
        inj.move(...this.point(msg.x, msg.y));
        return 'injected';
      case 'down':
        inj.move(...this.point(msg.x, msg.y));
        inj.button(msg.button, true);
        this.heldButtons.add(msg.button);
        return 'injected';
      case 'up':
        // Releasing a button the analyst never pressed could end the end user's own drag.
        if (!this.heldButtons.has(msg.button)) return 'dropped_invalid';
        inj.move(...this.point(msg.x, msg.y));
        inj.button(msg.button, false);
        this.heldButtons.delete(msg.button);
        return 'injected';
      case 'wheel':
        inj.wheel(msg.dx, msg.dy);
        return 'injected';
      case 'keydown': {
        const part = chordPart(msg.code, msg.key);
        if (part && completesChord(this.heldParts(), part)) return 'refused_panic';
        if (!inj.key(msg.code, msg.key, true)) return 'dropped_unknown';
        this.heldKeys.set(msg.code, part);
        return 'injected';
      }
      case 'keyup':
        if (!this.heldKeys.has(msg.code)) return 'dropped_invalid';
        this.heldKeys.delete(msg.code);
        inj.key(msg.code, msg.key, false);
        return 'injected';
      case 'text':
        // Typed text presses Shift for capitals, which with Ctrl, Alt and End held would be the
        // chord; and text typed under held modifiers is a shortcut, which keydown exists for.
        if (this.heldParts().length > 0) return 'refused_panic';
        inj.text(msg.text);
        return 'injected';
      default:
        return missingCase(msg);
    }
  }

  /**
   * `seq` is one counter per sender across both channels, strictly increasing. The reliable
   * channel is ordered, so a message there at or below the last one seen there is a replay. The
   * pointer channel is not: a move at or below the newest seq seen on either channel was
   * overtaken (by a newer move, or by a click or key sent after it) and would move the pointer
   * back; it is dropped. Everything that decoded counts as seen, granted or not.
   */
  private stale(sessionId: string, msg: ControlMessage): boolean {
    const s = this.seqs.get(sessionId) ?? { reliable: -1, any: -1 };
    this.seqs.set(sessionId, s);
    if (msg.t === 'move' ? msg.seq <= s.any : msg.seq <= s.reliable) return true;
    if (msg.t !== 'move') s.reliable = msg.seq;
    s.any = Math.max(s.any, msg.seq);
    return false;
  }

  private heldParts(): ChordPart[] {
    return [...this.heldKeys.values()].filter((p): p is ChordPart => p !== null);
  }

  private releaseIfHeld(): void {
    if (this.heldKeys.size > 0 || this.heldButtons.size > 0) this.releaseAll();
  }
}

function dropOutcome(reason: DropReason, raw: unknown): GateOutcome {
  switch (reason) {
    case 'too_large':
    case 'not_json':
    case 'wrong_channel':
      return 'dropped_invalid';
    case 'rate_limited':
      return 'dropped_rate';
    case 'invalid':
      return isUnknownType(raw) ? 'dropped_unknown' : 'dropped_invalid';
    default:
      return missingCase(reason);
  }
}

/** Tells a well-formed message of a type we do not know from a malformed one of a type we do. */
function isUnknownType(raw: unknown): boolean {
  if (typeof raw !== 'string' || raw.length > MAX_CONTROL_MESSAGE_BYTES) return false;
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const t = (v as { t?: unknown }).t;
    return typeof t === 'string' && !Object.hasOwn(KNOWN_TYPES, t);
  } catch {
    return false;
  }
}

/**
 * One transcript entry for a message the gate decided on, or null (moves, wheels, key releases,
 * drops of malformed or stale input). Key presses carry no code and chat no text: counts only,
 * because keystrokes can carry passwords (issue 11, Transcript).
 */
function transcriptEntry(msg: ControlMessage, outcome: GateOutcome, t: number): TranscriptEntry | null {
  switch (outcome) {
    case 'refused_no_grant':
    case 'refused_inactive':
    case 'refused_interrupted':
    case 'refused_panic':
      return { t, kind: 'refused', why: outcome };
    case 'chat':
      return msg.t === 'chat' ? { t, kind: 'chat', count: msg.text.length } : null;
    case 'injected':
      if (msg.t === 'down') return { t, kind: 'click', x: clamp01(msg.x), y: clamp01(msg.y), button: msg.button };
      if (msg.t === 'keydown') return { t, kind: 'keys', count: 1 };
      if (msg.t === 'text') return { t, kind: 'text', count: msg.text.length };
      return null;
    case 'dropped_rate':
    case 'dropped_invalid':
    case 'dropped_stale':
    case 'dropped_unknown':
    case 'inject_failed':
      return null;
    default:
      return missingCase(outcome);
  }
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
