import { z } from 'zod';
import { CAPABILITIES } from '../capabilities.js';
import { ANALYST_KINDS, ROLES } from '../roles.js';
import { END_REASONS, SESSION_STATES } from '../session-state.js';
import { MAX_TICKET_CHARS, MAX_TOKEN_CHARS } from './limits.js';

/**
 * The broker's answers, written once: the broker's types are inferred from these schemas and its
 * routes must return them (broker/http/registry.ts), and the app parses every answer through them
 * before a screen sees any of it (renderer/app/broker-client.ts). Limits are generous on purpose:
 * they are at least what the broker accepts as input, so a value it stored always comes back out.
 */

const Id = z.string().min(1).max(64);
const Short = z.string().max(64);
const Name = z.string().max(256);
const Text = z.string().max(2000);
const Token = z.string().min(1).max(4 * MAX_TOKEN_CHARS);
const Time = z.number().int().nonnegative();
const Url = z.string().max(1024);
const Capabilities = z.array(z.enum(CAPABILITIES)).max(CAPABILITIES.length);

/** `retry_after_s`: with a 429, how long until the limit lifts (also the Retry-After header). */
export const ErrorResponseSchema = z.object({ error: z.object({ code: Short, message: Text, retry_after_s: z.number().int().nonnegative().max(86_400).optional() }) });

// ---------------------------------------------------------------- accounts and sign-in

export const AccountSchema = z.object({
  id: Id,
  username: Short,
  display_name: Name,
  organisation: Name,
  kind: z.enum(ANALYST_KINDS),
  roles: z.array(z.enum(ROLES)).max(ROLES.length),
  mfa_at: Time,
  /** The identity provider this account signs in with (single sign-on), or null for a Chaperone password: where its step-up happens. */
  sso_issuer: z.string().max(300).nullable(),
});

/** GET /api/v1/me: the signed-in account (always enabled: a disabled one is refused before). */
export const MeSchema = AccountSchema.extend({ disabled: z.boolean() });

export const LoginResultSchema = z.object({
  access_token: Token,
  token_type: z.literal('DPoP'),
  expires_in: z.number().int().positive(),
  refresh_token: z.string().min(16).max(256),
  refresh_expires_in: z.number().int().positive(),
  account: AccountSchema,
});

export const PasswordChangedSchema = z.object({ changed: z.literal(true) });
export const SignedOutSchema = z.object({ signed_out: z.literal(true) });

// ---------------------------------------------------------------- sessions

export const GrantViewSchema = z.object({
  capability: z.enum(CAPABILITIES),
  state: z.enum(['requested', 'granted', 'denied', 'revoked']),
  requested_at: Time,
  decided_at: Time.nullable(),
  revoked_at: Time.nullable(),
});

const AnalystSchema = z.object({ id: Id, username: Short, display_name: Name, organisation: Name, kind: z.enum(ANALYST_KINDS) });

export const SessionViewSchema = z.object({
  id: Id,
  state: z.enum(SESSION_STATES),
  end_reason: z.enum(END_REASONS).nullable(),
  ticket: z.string().max(MAX_TICKET_CHARS),
  reason: Text,
  capabilities: Capabilities,
  duration_minutes: z.number().int().nonnegative().max(24 * 60),
  analyst: AnalystSchema,
  approval: z.object({
    required: z.boolean(),
    why: Text,
    approver: Short.nullable(),
    /** The approver as people read them (their display name); `approver` is the username. */
    approver_name: Name.nullable(),
    approved_at: Time.nullable(),
    deadline: Time.nullable(),
    rejection_reason: Text.nullable(),
  }),
  code_expires_at: Time.nullable(),
  /** The end user tried this code while locked out after too many wrong ones: until when they must wait. */
  join_locked_until: Time.nullable(),
  offer_expires_at: Time.nullable(),
  activated_at: Time.nullable(),
  expires_at: Time.nullable(),
  /** The latest the session may run to, extensions included (set when it starts). */
  hard_deadline: Time.nullable(),
  created_at: Time,
  ended_at: Time.nullable(),
  // A grant asked for and refused again and again stays listed; bounded far above any real session.
  grants: z.array(GrantViewSchema).max(5000),
});

export const SessionListSchema = z.object({ sessions: z.array(SessionViewSchema).max(500) });

/** POST /api/v1/sessions/:id/code: the single-use join code, shown once. */
/** `join_url`: the https form of the join link (GET /join/CODE on the broker), to paste into a ticket or chat. */
export const CodeResultSchema = z.object({ code: Short, code_display: Short, expires_at: Time, join_url: Url.optional() });
/** POST /sessions/:id/reissue: the new session carrying the old approval, and its code. */
export const ReissuedSchema = z.object({ session: SessionViewSchema, code: CodeResultSchema });
/** GET /join/:code: the page a join link opens in a browser. */
export const JoinLinkPageSchema = z.string().max(8000);

export const IceServerSchema = z.object({
  urls: z.array(Url).min(1).max(8),
  username: z.string().max(512).optional(),
  credential: z.string().max(512).optional(),
});

/** A session token for signaling, with the TURN servers (and credentials) it may use. */
export const SessionTokenSchema = z.object({ token: Token, expires_at: Time, ice_servers: z.array(IceServerSchema).max(8) });

/** A request for more time waiting for an approver (GET /api/v1/extensions/pending). */
export const PendingExtensionSchema = z.object({
  id: Id,
  session_id: Id,
  ticket: z.string().max(MAX_TICKET_CHARS),
  minutes: z.number().int().min(1).max(24 * 60),
  requested_at: Time,
  /** The session's reason: a request for more time carries none of its own. */
  reason: Text,
  capabilities: Capabilities,
  expires_at: Time.nullable(),
  hard_deadline: Time.nullable(),
  analyst: AnalystSchema,
});

export const PendingExtensionsSchema = z.object({ extensions: z.array(PendingExtensionSchema).max(500) });

export const ExtensionDecidedSchema = z.object({ decided: z.enum(['approve', 'reject']) });

// ---------------------------------------------------------------- the end user

/** POST /api/v1/join: the broker-signed consent offer for the device that redeemed the code. */
export const RedeemResultSchema = z.object({ session_id: Id, offer: Token, offer_expires_at: Time });

export const ConsentResultSchema = z.discriminatedUnion('accepted', [
  SessionTokenSchema.extend({ accepted: z.literal(true) }),
  z.object({ accepted: z.literal(false) }),
]);

export const TeardownRecordedSchema = z.object({ recorded: z.literal(true) });
export const SessionStoppedSchema = z.object({ ended: z.literal(true), reason: z.enum(END_REASONS) });

// ---------------------------------------------------------------- administration and audit

export const UserListSchema = z.object({
  users: z.array(AccountSchema.extend({ disabled: z.boolean(), locked: z.boolean(), must_change_password: z.boolean(), totp: z.boolean(), created_at: Time })).max(100_000),
});

export const CreatedAccountSchema = z.object({
  account: AccountSchema,
  one_time_password: z.string().min(1).max(256),
  totp_secret: z.string().max(256).nullable(),
  otpauth_uri: z.string().max(1024).nullable(),
});

export const UserDisabledSchema = z.object({ disabled: Short });
export const UserRolesSchema = z.object({ username: Short, roles: z.array(z.enum(ROLES)).max(ROLES.length) });
/** An admin's password reset: the account's new one-time password, shown once. */
export const PasswordResetSchema = z.object({ username: Short, one_time_password: z.string().min(1).max(256) });
export const KeyRotatedSchema = z.object({ kid: Short, previous: Short });

export const HookDeliveriesSchema = z.object({
  deliveries: z
    .array(
      z.object({
        id: Id,
        event_type: Short,
        url: Url,
        status: z.enum(['pending', 'delivered', 'failed']),
        attempts: z.number().int().nonnegative(),
        last_error: z.string().max(1000).nullable(),
        created_at: Time,
        delivered_at: Time.nullable(),
        next_attempt_at: Time,
      }),
    )
    .max(500),
});

/** Stored events as they are: an old log may hold types or outcomes this build no longer writes. */
export const AuditEventsSchema = z.object({
  events: z
    .array(
      z.object({
        seq: z.number().int().positive(),
        id: Id,
        ts: Time,
        type: z.string().max(256),
        outcome: z.string().max(64),
        actor: z.string().max(512),
        session_id: z.string().max(256).nullable(),
        ticket: z.string().max(256).nullable(),
        source: z.string().max(256).nullable(),
        meta: z.unknown(),
        prev_hash: Short,
        hash: Short,
      }),
    )
    .max(1000),
});

export const TicketWebhookResultSchema = z.object({
  ticket: z.string().max(MAX_TICKET_CHARS),
  status: z.enum(['open', 'approved', 'closed']),
  ended_sessions: z.array(Id).max(10_000),
});

// ---------------------------------------------------------------- operations

export const HealthSchema = z.object({ status: z.literal('ok') });
export const ReadySchema = z.object({ status: z.literal('ready'), engine: z.enum(['sqlite', 'postgres']), key: Short });
export const MetricsTextSchema = z.string();
export const JwksSchema = z.object({
  keys: z.array(z.object({ kid: Short, alg: z.literal('EdDSA'), use: z.literal('sig'), kty: Short.optional(), crv: Short.optional(), x: Short.optional() })).max(64),
});
export const OpenApiDocumentSchema = z.record(z.string(), z.unknown());

// ---------------------------------------------------------------- the types both sides use

export type AccountView = z.infer<typeof AccountSchema>;
export type MeView = z.infer<typeof MeSchema>;
export type LoginResult = z.infer<typeof LoginResultSchema>;
export type GrantView = z.infer<typeof GrantViewSchema>;
export type SessionView = z.infer<typeof SessionViewSchema>;
export type CodeResult = z.infer<typeof CodeResultSchema>;
export type IceServer = z.infer<typeof IceServerSchema>;
export type SessionTokenResult = z.infer<typeof SessionTokenSchema>;
export type PendingExtension = z.infer<typeof PendingExtensionSchema>;
export type RedeemResult = z.infer<typeof RedeemResultSchema>;
export type ConsentResult = z.infer<typeof ConsentResultSchema>;
export type CreatedAccount = z.infer<typeof CreatedAccountSchema>;

/** One event of GET /api/v1/sessions/:id/events (text/event-stream, `event: state`): the session's state now. */
export const SessionStateEventSchema = z.object({ state: z.enum(SESSION_STATES) }).strict();
