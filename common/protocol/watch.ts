import { z } from 'zod';
import { CAPABILITIES, GRANTABLE_CAPABILITIES } from '../capabilities.js';
import { RECORDING_MODES } from '../recording.js';
import { ANALYST_KINDS } from '../roles.js';
import { END_REASONS } from '../session-state.js';
import { WATCHER_ROLES, WatchTermsSchema } from '../watch.js';
import { MAX_TOKEN_CHARS } from './limits.js';
import { safeText } from './text.js';

/**
 * The wire contract of monitored sessions (issue 12): the Live screen's list, the watch ticket,
 * the frames of the watch socket, the presence and moderation frames the analyst and the end user
 * get on signaling, and the moderation bodies. docs/api.md "Watching a session", docs/signaling.md
 * "The watch socket".
 */

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);
const epoch = z.number().int().min(0).max(8.64e15);
const name = z.string().max(200);

/** One person present in a session, as everyone in it is shown. */
export const PresenceEntrySchema = z
  .object({
    /** `analyst` for the analyst; a watcher's id (stable while that watch lasts) otherwise. */
    id,
    kind: z.enum(['analyst', 'watcher']),
    name,
    /** The analyst: `analyst`; a watcher: the role it watches as (`supervisor` or `admin`). */
    role: z.enum(['analyst', ...WATCHER_ROLES]),
    organisation: name,
    /** When they joined (the analyst: when their signaling socket was last ready). */
    since: epoch,
  })
  .strict();
export type PresenceEntry = z.infer<typeof PresenceEntrySchema>;

/** Why control is suspended: a watcher pressed Suspend, or a required watcher left. */
export const SUSPEND_REASONS = ['by_watcher', 'watcher_left'] as const;
export type SuspendReason = (typeof SUSPEND_REASONS)[number];

/** Whether control is suspended now, and why; the same object on every socket and in the Live list. */
export const ControlStateSchema = z
  .object({
    suspended: z.boolean(),
    /** Every reason in force (both can be); empty when not suspended. */
    reasons: z.array(z.enum(SUSPEND_REASONS)).max(SUSPEND_REASONS.length),
    /** The watcher who suspended it (`by_watcher`), by name. */
    by: name.nullable(),
    /** The watcher's words when they suspended it (both parties read them). */
    note: z.string().max(200).nullable(),
    /** With `watcher_left` under `on_leave: end`: when the session ends unless enough watchers are back. */
    ends_at: epoch.nullable(),
  })
  .strict();
export type ControlState = z.infer<typeof ControlStateSchema>;

/** What the requirement needs now: 0 when met (or none applies). */
const watchersNeeded = z.number().int().min(0).max(5);

// ---------- frames added to signaling (broker -> analyst and end user)

/** The whole list of who is present, sent after `ready` and on every join and leave. */
export const PresenceFrameSchema = z
  .object({ type: z.literal('presence'), present: z.array(PresenceEntrySchema).max(64), watchers_needed: watchersNeeded })
  .strict();
/** Control was suspended or resumed (or its reasons changed); the end user's gate locks while `suspended`. */
export const ControlFrameSchema = z.object({ type: z.literal('control.state'), control: ControlStateSchema }).strict();
/** A watcher's note to the analyst (analyst only). */
export const MAX_NOTE_CHARS = 500;
export const NoteFrameSchema = z.object({ type: z.literal('watch.note'), from: name, text: z.string().min(1).max(MAX_NOTE_CHARS), at: epoch }).strict();

// ---------- the watch socket (GET /api/v1/sessions/{id}/watch)

export const WatchClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auth'), token: z.string().min(1).max(MAX_TOKEN_CHARS), proof: z.string().min(1).max(MAX_TOKEN_CHARS) }).strict(),
  z.object({ type: z.literal('heartbeat') }).strict(),
]);
export type WatchClientFrame = z.infer<typeof WatchClientFrameSchema>;

export const WatchBrokerFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('challenge'), nonce: z.string().min(8).max(256) }).strict(),
  z
    .object({
      type: z.literal('watch.ready'),
      session_id: id,
      /** This watch's own entry in `present`. */
      watcher_id: id,
      /** Whether this watcher counts towards the session's required watchers (the approver of the session does not). */
      counts: z.boolean(),
      /** Whether a picture comes: only a recorded session's chunks are relayed. */
      picture: z.boolean(),
      expires_at: epoch,
      present: z.array(PresenceEntrySchema).max(64),
      watchers_needed: watchersNeeded,
      control: ControlStateSchema,
      grants: z.array(z.enum(GRANTABLE_CAPABILITIES)).max(GRANTABLE_CAPABILITIES.length),
    })
    .strict(),
  /** The next recording chunk: exactly one binary WebSocket message with its `bytes` follows this frame. */
  z.object({ type: z.literal('chunk'), seq: z.number().int().min(0), bytes: z.number().int().min(1), live: z.boolean() }).strict(),
  z.object({ type: z.literal('presence'), present: z.array(PresenceEntrySchema).max(64), watchers_needed: watchersNeeded }).strict(),
  z.object({ type: z.literal('control.state'), control: ControlStateSchema }).strict(),
  z.object({ type: z.literal('grants'), grants: z.array(z.enum(GRANTABLE_CAPABILITIES)).max(GRANTABLE_CAPABILITIES.length) }).strict(),
  z.object({ type: z.literal('expiry'), expires_at: epoch }).strict(),
  z.object({ type: z.literal('session.ended'), reason: z.enum(END_REASONS), note: z.string().max(200).optional() }).strict(),
  z.object({ type: z.literal('error'), code: z.string().max(64), message: z.string().max(2000) }).strict(),
]);
export type WatchBrokerFrame = z.infer<typeof WatchBrokerFrameSchema>;

// ---------- HTTP

/** `POST /api/v1/sessions/{id}/watch`: a ticket for the watch socket, bound to the caller's device key. */
export const WatchTicketSchema = z.object({ token: z.string().min(1).max(MAX_TOKEN_CHARS), expires_at: epoch, url: z.string().max(200) }).strict();

/** One row of the Live screen. */
export const LiveSessionSchema = z
  .object({
    session_id: id,
    ticket: z.string().max(128),
    reason: z.string().max(2000),
    analyst: z.object({ username: name, name, organisation: name, kind: z.enum(ANALYST_KINDS) }).strict(),
    approver: name.nullable(),
    activated_at: epoch,
    expires_at: epoch,
    capabilities: z.array(z.enum(CAPABILITIES)).max(CAPABILITIES.length),
    /** Granted by the end user right now. */
    grants: z.array(z.enum(GRANTABLE_CAPABILITIES)).max(GRANTABLE_CAPABILITIES.length),
    recording: z.object({ mode: z.enum(RECORDING_MODES), chunks: z.number().int().min(0), last_chunk_at: epoch.nullable() }).strict(),
    watch: WatchTermsSchema,
    present: z.array(PresenceEntrySchema).max(64),
    watchers_needed: watchersNeeded,
    control: ControlStateSchema,
    /** Whether the caller may watch it (false: watchers not allowed, or it is the caller's own session). */
    can_watch: z.boolean(),
  })
  .strict();
export type LiveSessionRow = z.infer<typeof LiveSessionSchema>;
export const LiveListSchema = z.object({ sessions: z.array(LiveSessionSchema).max(1000) }).strict();

export const SuspendBody = z.union([z.object({ reason: safeText(200).optional() }).strict(), z.undefined(), z.null()]);
export const NoteBody = z.object({ text: safeText(MAX_NOTE_CHARS) }).strict();
export const ModerationAnswerSchema = z.object({ control: ControlStateSchema }).strict();
export const NoteAnswerSchema = z.object({ sent_at: epoch, delivered: z.boolean() }).strict();

