import { z } from 'zod';
import { PasskeyAnswer } from './passkeys.js';
import { CAPABILITIES } from '../capabilities.js';
import { ANALYST_KINDS, ROLES } from '../roles.js';
import { SESSION_STATES } from '../session-state.js';
import { MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_TOKEN_CHARS } from './limits.js';
import { safeText as text } from './text.js';

export const TicketRefSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:#/-]*$/, 'ticket references use letters, digits and . _ : # / -');

export const IdSchema = z.string().uuid();

export const LoginBody = z
  .object({
    username: text(64),
    password: z.string().min(1).max(256),
    totp: z.string().regex(/^\d{6}$/).optional(),
    /** In place of `totp`: the answer to POST /api/v1/auth/login/passkey-options's challenge. */
    passkey: PasskeyAnswer.optional(),
  })
  .strict();

export const PasswordChangeBody = z
  .object({
    username: text(64),
    password: z.string().min(1).max(256),
    totp: z.string().regex(/^\d{6}$/).optional(),
    new_password: z.string().min(12).max(256),
  })
  .strict();

export const RefreshBody = z.object({ refresh_token: z.string().min(16).max(256) }).strict();

export const SessionRequestBody = z
  .object({
    ticket: TicketRefSchema,
    reason: text(MAX_TEXT_CHARS),
    capabilities: z.array(z.enum(CAPABILITIES)).min(1).max(5),
    duration_minutes: z.number().int().min(1).max(24 * 60),
  })
  .strict();

export const RejectBody = z.object({ reason: text(MAX_TEXT_CHARS) }).strict();
/** Refusing more time: a reason is welcome (the analyst sees it) but not required. */
export const ExtensionDecisionBody = z.union([z.object({ reason: text(MAX_TEXT_CHARS).optional() }).strict(), z.undefined(), z.null()]);
/** The kill switch: a short reason is optional; the end user, the analyst and the audit read it. */
export const MAX_KILL_REASON_CHARS = 200;
export const KillBody = z.union([z.object({ reason: text(MAX_KILL_REASON_CHARS).optional() }).strict(), z.undefined(), z.null()]);
export const EmptyBody = z.object({}).strict();
export const OptionalEmptyBody = z.union([z.object({}).strict(), z.undefined(), z.null()]);

/**
 * Why the end user's client ends its session over HTTP (POST /api/v1/sessions/:id/stop): it has no
 * signaling socket to say so, because sharing never began after Accept, or because the socket is away.
 */
export const END_USER_STOP_REASONS = ['capture_refused', 'recording_failed', 'user_stopped'] as const;
export const EndUserStopBody = z.object({ reason: z.enum(END_USER_STOP_REASONS) }).strict();

export const JoinBody = z.object({ code: z.string().min(1).max(64) }).strict();

export const ConsentBody = z
  .object({
    session_id: IdSchema,
    receipt: z.string().min(1).max(MAX_TOKEN_CHARS),
  })
  .strict();

export const SessionIdParams = z.object({ id: IdSchema }).strict();
export const ExtensionParams = z.object({ id: IdSchema, eid: IdSchema }).strict();

export const SessionListQuery = z
  .object({
    state: z.enum(SESSION_STATES).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

export const UserCreateBody = z
  .object({
    username: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,62}$/),
    display_name: text(MAX_NAME_CHARS),
    organisation: text(MAX_NAME_CHARS),
    kind: z.enum(ANALYST_KINDS).default('internal'),
    roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
  })
  .strict();

/** The roles an account has from now on; taking one away refuses its tokens and ends its live sessions. */
export const UserRolesBody = z.object({ roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length) }).strict();

export const UsernameParams = z.object({ username: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,62}$/) }).strict();

export const AuditQuery = z
  .object({
    after_seq: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    session_id: IdSchema.optional(),
  })
  .strict();

export const DeliveriesQuery = z
  .object({ status: z.enum(['pending', 'delivered', 'failed']).optional(), limit: z.coerce.number().int().min(1).max(500).default(100) })
  .strict();

export const TicketWebhookBody = z
  .object({
    event_id: text(128),
    ticket: TicketRefSchema,
    status: z.enum(['open', 'approved', 'closed']),
  })
  .strict();

/**
 * The end user's teardown report when signaling is gone, and after a crash: what the client
 * revoked, with the device key's signed receipt over the same list.
 */
export const TeardownReportBody = z
  .object({
    session_id: IdSchema,
    revoked: z.array(z.enum(['capture', 'control', 'clipboard', 'files'])).max(4),
    after_crash: z.boolean(),
    receipt: z.string().min(16).max(MAX_TOKEN_CHARS),
  })
  .strict();
