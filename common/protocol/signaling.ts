import { z } from 'zod';
import { GRANTABLE_CAPABILITIES } from '../capabilities.js';

/** What a client can hold locally and must report as revoked when it tears down. */
export const LOCAL_GRANTS = ['capture', 'control', 'clipboard', 'files'] as const;
import { END_REASONS } from '../session-state.js';
import { MAX_CANDIDATE_CHARS, MAX_SDP_CHARS, MAX_TOKEN_CHARS } from './limits.js';

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);

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
]);
export type SignalPayload = z.infer<typeof SignalPayloadSchema>;

/** Frames a client sends to the broker. */
export const ClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auth'), token: z.string().min(1).max(MAX_TOKEN_CHARS), proof: z.string().min(1).max(MAX_TOKEN_CHARS) }).strict(),
  z.object({ type: z.literal('heartbeat') }).strict(),
  z.object({ type: z.literal('signal'), payload: SignalPayloadSchema }).strict(),
  z.object({ type: z.literal('grant.request'), request_id: id, capability: z.enum(GRANTABLE_CAPABILITIES) }).strict(),
  z.object({ type: z.literal('grant.response'), request_id: id, allow: z.boolean() }).strict(),
  z.object({ type: z.literal('grant.revoke'), capability: z.enum(GRANTABLE_CAPABILITIES) }).strict(),
  z.object({ type: z.literal('extend.request'), request_id: id, minutes: z.number().int().min(1).max(240) }).strict(),
  z.object({ type: z.literal('extend.response'), extension_id: id, accept: z.boolean(), receipt: z.string().max(MAX_TOKEN_CHARS).optional() }).strict(),
  z.object({ type: z.literal('teardown.report'), revoked: z.array(z.enum(LOCAL_GRANTS)).max(16) }).strict(),
  z.object({ type: z.literal('end') }).strict(),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export type ClientFrameType = ClientFrame['type'];

/** Frames the broker sends to a client. */
export type BrokerFrame =
  | { type: 'challenge'; nonce: string }
  | { type: 'ready'; session_id: string; role: 'analyst' | 'end_user'; expires_at: number; capabilities: string[]; grants: string[]; peer_online: boolean }
  | { type: 'peer.online'; online: boolean }
  | { type: 'signal'; from: 'analyst' | 'end_user'; payload: SignalPayload }
  | { type: 'grant.request'; request_id: string; capability: string }
  | { type: 'grant.changed'; capability: string; granted: boolean; by: 'analyst' | 'end_user' | 'broker'; request_id?: string }
  | { type: 'extend.pending_approval'; extension_id: string; minutes: number }
  | { type: 'extend.offer'; extension_id: string; minutes: number; new_expires_at: number }
  | {
      type: 'extend.result';
      extension_id: string;
      accepted: boolean;
      expires_at: number;
      /** Who decided: the approver (reject), the end user (accept or decline), or the broker. */
      by: 'approver' | 'end_user';
      /** The approver's words when they refused (to the analyst only). */
      reason?: string;
    }
  | { type: 'token.renewed'; token: string; expires_at: number }
  | { type: 'expiry.warning'; seconds_left: number; expires_at: number }
  | { type: 'session.ended'; reason: (typeof END_REASONS)[number] }
  | { type: 'error'; code: string; message: string };

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
} as const;
