import { z } from 'zod';
import { CAPABILITIES } from '../capabilities.js';
import { END_REASONS, SESSION_STATES } from '../session-state.js';
import { MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_TICKET_CHARS } from './limits.js';
import { RECORDING_STATES } from './recordings.js';

/**
 * Session history (GET /api/v1/sessions/history): analysts read their own sessions, approvers,
 * admins and auditors everyone's. The broker scopes the rows by the caller's account; a filter
 * can only narrow that, never widen it.
 */

export const HISTORY_MAX_PAGE = 100;

/** The paging cursor: the last row's request time and id ("1733150000000.uuid"), opaque to clients. */
export const HistoryCursor = z.string().regex(/^\d{1,15}\.[0-9a-f-]{36}$/, 'the next_before of the previous page');

export const HistoryQuery = z
  .object({
    /** Free text, matched case-insensitively inside the ticket, the reason and the analyst's name or username. */
    q: z.string().trim().min(1).max(64).optional(),
    /** An analyst's username, exactly (for those who see everyone's sessions). */
    analyst: z.string().min(1).max(64).optional(),
    /** Only sessions that ended this way. */
    ended: z.enum(END_REASONS).optional(),
    /** Epoch milliseconds, on when the session was requested: from inclusive, to exclusive. */
    from: z.coerce.number().int().min(0).optional(),
    to: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(HISTORY_MAX_PAGE).default(50),
    before: HistoryCursor.optional(),
  })
  .strict();
export type HistoryFilters = z.infer<typeof HistoryQuery>;

const Person = z.object({ username: z.string().max(64), display_name: z.string().max(MAX_NAME_CHARS) }).strict();

export const HistoryRowSchema = z
  .object({
    session_id: z.string().uuid(),
    ticket: z.string().max(MAX_TICKET_CHARS),
    reason: z.string().max(MAX_TEXT_CHARS),
    analyst: Person.extend({ organisation: z.string().max(MAX_NAME_CHARS) }).strict(),
    /** Who approved it; null when policy needed nobody (or nobody has yet). */
    approver: Person.nullable(),
    /** The end user's device: the start of its key's thumbprint (the broker knows no end user's name); null until someone joined. */
    end_user_device: z.string().max(16).nullable(),
    requested_at: z.number().int(),
    /** When the end user accepted; null for a request that never became a session. */
    started_at: z.number().int().nullable(),
    ended_at: z.number().int().nullable(),
    /** From the end user's Accept to the end (or to now for a live one); null if it never started. */
    duration_ms: z.number().int().min(0).nullable(),
    state: z.enum(SESSION_STATES),
    end_reason: z.enum(END_REASONS).nullable(),
    /** What the analyst asked for, and what the end user granted inside the session (seeing the screen and chat come with the Accept). */
    asked: z.array(z.enum(CAPABILITIES)).max(CAPABILITIES.length),
    granted: z.array(z.enum(CAPABILITIES)).max(CAPABILITIES.length),
    /** The session's recording, if any of it reached the broker: how it stands (auditors and admins can play a finalised one). */
    recording: z.enum(RECORDING_STATES).nullable(),
  })
  .strict();
export type HistoryRow = z.infer<typeof HistoryRowSchema>;

export const HistoryPageSchema = z
  .object({
    sessions: z.array(HistoryRowSchema).max(HISTORY_MAX_PAGE),
    /** Pass as `before` for the next (older) page; null when this page is the last. */
    next_before: HistoryCursor.nullable(),
  })
  .strict();
export type HistoryPage = z.infer<typeof HistoryPageSchema>;
