import { z } from 'zod';
import { GRANTABLE_CAPABILITIES } from '../capabilities.js';
import { CONTROL_REFUSALS, GRANT_CHANGE_REASONS } from '../control/refusals.js';
import { GRANT_DIRECTIONS } from '../grant-direction.js';

/** What a client can hold locally and must report as revoked when it tears down. */
export const LOCAL_GRANTS = ['capture', 'control', 'clipboard', 'files'] as const;
import { END_REASONS, type EndReason } from '../session-state.js';
import { ControlFrameSchema, NoteFrameSchema, PresenceFrameSchema } from './watch.js';

/**
 * The teardown report is a statement signed by the end user's device key (the key that signed the
 * consent receipt): a compact JWS, header `{alg: EdDSA, typ, jwk}`, payload `{sid, revoked (sorted,
 * each once), after_crash, iat, jti}`. docs/signaling.md and docs/api.md.
 */
export const TEARDOWN_RECEIPT_TYP = 'chaperone-teardown+jwt';
import { MAX_CANDIDATE_CHARS, MAX_SDP_CHARS, MAX_TOKEN_CHARS } from './limits.js';
import { CLIPBOARD_SYNC_TYPES, MAX_CLIPBOARD_CHARS, MAX_CLIPBOARD_IMAGE_BYTES } from '../clipboard/protocol.js';

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);
/** Clipboard and files name the way data may go (common/grant-direction.ts); control names none. */
const direction = z.enum(GRANT_DIRECTIONS).optional();

/** What can happen to a file transfer, as the end user's machine records it. */
export const TRANSFER_EVENTS = ['offered', 'accepted', 'refused', 'saved', 'failed', 'cancelled'] as const;
export type TransferEvent = (typeof TRANSFER_EVENTS)[number];

/** Why a client ends a session by itself; without one, the analyst completes and the end user stops. */
export const END_FRAME_REASONS = ['peer_lost', 'verification_failed'] as const satisfies readonly EndReason[];

/** What a client may put inside a relayed `signal`: WebRTC negotiation, nothing else. */
export const SignalPayloadSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('offer'), sdp: z.string().max(MAX_SDP_CHARS) }).strict(),
  z.object({ kind: z.literal('answer'), sdp: z.string().max(MAX_SDP_CHARS) }).strict(),
  z
    .object({
      kind: z.literal('candidate'),
      candidate: z.string().max(MAX_CANDIDATE_CHARS),
      sdpMid: z.string().max(64).nullable().optional(),
      sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
    })
    .strict(),
  z.object({ kind: z.literal('renegotiate') }).strict(),
  /** The verification code's commitment: base64url SHA-256, 43 characters (docs/session-protocol.md). */
  z.object({ kind: z.literal('sas-commit'), commitment: z.string().regex(/^[A-Za-z0-9_-]{43}$/) }).strict(),
]);
export type SignalPayload = z.infer<typeof SignalPayloadSchema>;

/** Frames a client sends to the broker. */
export const ClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auth'), token: z.string().min(1).max(MAX_TOKEN_CHARS), proof: z.string().min(1).max(MAX_TOKEN_CHARS) }).strict(),
  z.object({ type: z.literal('heartbeat') }).strict(),
  z.object({ type: z.literal('signal'), payload: SignalPayloadSchema }).strict(),
  z.object({ type: z.literal('grant.request'), request_id: id, capability: z.enum(GRANTABLE_CAPABILITIES), direction }).strict(),
  /**
   * `capability`: what the end user was shown and answers; the broker checks it against the request.
   * `reason`: the end user's machine cannot do it although the end user said yes (Wayland, macOS permission).
   */
  z.object({ type: z.literal('grant.response'), request_id: id, capability: z.enum(GRANTABLE_CAPABILITIES), direction, allow: z.boolean(), reason: z.enum(CONTROL_REFUSALS).optional() }).strict(),
  z.object({ type: z.literal('grant.revoke'), capability: z.enum(GRANTABLE_CAPABILITIES) }).strict(),
  z.object({ type: z.literal('extend.request'), request_id: id, minutes: z.number().int().min(1).max(240) }).strict(),
  z.object({ type: z.literal('extend.response'), extension_id: id, accept: z.boolean(), receipt: z.string().max(MAX_TOKEN_CHARS).optional() }).strict(),
  /** `receipt`: the device key's `chaperone-teardown+jwt` over the same list (docs/session-protocol.md). */
  z.object({ type: z.literal('teardown.report'), revoked: z.array(z.enum(LOCAL_GRANTS)).max(16), receipt: z.string().min(16).max(MAX_TOKEN_CHARS) }).strict(),
  /**
   * The end user's machine puts each file transfer decision on the record: name as saved (safe
   * text), size, SHA-256, direction, and what happened. Never the content.
   */
  z
    .object({
      type: z.literal('transfer.record'),
      transfer_id: id,
      event: z.enum(TRANSFER_EVENTS),
      direction: z.enum(['to_end_user', 'from_end_user']),
      // eslint-disable-next-line no-control-regex -- a recorded name must not carry control characters
      name: z.string().min(1).max(255).refine((n) => !/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069]/.test(n), 'no control or direction characters'),
      size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      reason: z.string().max(64).regex(/^[a-z_]*$/).optional(),
    })
    .strict(),
  /**
   * The end user's machine puts each clipboard sync on the record: which way, what type and how
   * long, never the content. `kind` absent: text (clients before pictures); `length` in characters
   * of text or bytes of a picture.
   */
  z
    .object({ type: z.literal('clipboard.record'), direction: z.enum(['to_end_user', 'from_end_user']), length: z.number().int().min(1).max(MAX_CLIPBOARD_IMAGE_BYTES), kind: z.enum(CLIPBOARD_SYNC_TYPES).optional() })
    .strict()
    .refine((f) => (f.kind ?? 'text') !== 'text' || f.length <= MAX_CLIPBOARD_CHARS, { message: 'clipboard text is at most MAX_CLIPBOARD_CHARS characters' }),
  /** `reason`: a client that gives the session up by itself says why (docs/signaling.md). */
  z.object({ type: z.literal('end'), reason: z.enum(END_FRAME_REASONS).optional() }).strict(),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export type ClientFrameType = ClientFrame['type'];

/** Frames the broker sends to a client. */
const role = z.enum(['analyst', 'end_user']);
const epoch = z.number().int().min(0).max(8.64e15);
const shortText = z.string().max(200);

/**
 * Frames the broker sends to a client. Clients parse every frame through this schema before they
 * act on it: a frame that does not fit (a bug, a proxy, a broker of another version) is dropped,
 * never half-understood.
 */
export const BrokerFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('challenge'), nonce: z.string().min(8).max(256) }).strict(),
  z
    .object({
      type: z.literal('ready'),
      session_id: z.string().max(64),
      role,
      expires_at: epoch,
      capabilities: z.array(shortText).max(8),
      grants: z.array(shortText).max(8),
      peer_online: z.boolean(),
    })
    .strict(),
  z.object({ type: z.literal('peer.online'), online: z.boolean() }).strict(),
  z.object({ type: z.literal('signal'), from: role, payload: SignalPayloadSchema }).strict(),
  // mfa_at: when the analyst last passed a second factor (seconds), so the prompt can say how fresh.
  z.object({ type: z.literal('grant.request'), request_id: id, capability: shortText, mfa_at: z.number().int().nonnegative().optional(), direction }).strict(),
  /** `reason`: the machine's refusal (CONTROL_REFUSALS), or `timeout` when nobody answered the request within its time. */
  z
    .object({ type: z.literal('grant.changed'), capability: shortText, direction, granted: z.boolean(), by: z.enum(['analyst', 'end_user', 'broker']), request_id: id.optional(), reason: z.enum(GRANT_CHANGE_REASONS).optional() })
    .strict(),
  z.object({ type: z.literal('extend.pending_approval'), extension_id: id, minutes: z.number().int().min(1).max(1440) }).strict(),
  z.object({ type: z.literal('extend.offer'), extension_id: id, minutes: z.number().int().min(1).max(1440), new_expires_at: epoch }).strict(),
  z
    .object({
      type: z.literal('extend.result'),
      extension_id: id,
      accepted: z.boolean(),
      expires_at: epoch,
      /** Who decided: the approver (reject) or the end user (accept or decline). */
      by: z.enum(['approver', 'end_user']),
      /** The approver's words when they refused (to the analyst only). */
      reason: z.string().max(2000).optional(),
      /** Who refused, by display name (to the analyst only), so the notice names a person. */
      approver_name: z.string().max(120).optional(),
    })
    .strict(),
  z.object({ type: z.literal('token.renewed'), token: z.string().min(1).max(MAX_TOKEN_CHARS), expires_at: epoch }).strict(),
  z.object({ type: z.literal('expiry.warning'), seconds_left: z.number().int().min(0).max(86400), expires_at: epoch }).strict(),
  /** `note`: the words of whoever pulled the kill switch, when they gave some. */
  z.object({ type: z.literal('session.ended'), reason: z.enum(END_REASONS), note: z.string().max(200).optional() }).strict(),
  z.object({ type: z.literal('error'), code: z.string().max(64), message: z.string().max(2000) }).strict(),
  /** Who is present (the analyst and every watcher): after `ready` and on every join and leave (common/protocol/watch.ts). */
  PresenceFrameSchema,
  /** Control suspended or resumed by a watcher or by the watcher requirement; the end user's gate locks while suspended. */
  ControlFrameSchema,
  /** A watcher's note (to the analyst only). */
  NoteFrameSchema,
]);
export type BrokerFrame = z.infer<typeof BrokerFrameSchema>;

/** WebSocket close codes the broker uses (4000-4999 is the application range). */
export const CLOSE = {
  normal: 1000,
  policyViolation: 1008,
  tooBig: 1009,
  sessionEnded: 4000,
  authFailed: 4001,
  badFrame: 4002,
  rateLimited: 4003,
  replaced: 4004,
  authTimeout: 4005,
  /** A watch socket silent past the heartbeat timeout: the watcher counts as gone. */
  watchLapsed: 4006,
} as const;
