import type { EndReason, SessionState } from '../../common/session-state.js';
import type { Row } from './core.js';

/**
 * The one table of what ends a session by itself in each state: which stored time, with which
 * end reason, and why (for the audit). Timers (timers.ts) and the restart check (restart.ts) both
 * read it, so a deadline cannot be scheduled one way and checked another. Being a
 * Record over every state, a new state does not compile until it says what its deadline is.
 */
interface DeadlineRule {
  /** The stored time the state lapses at. */
  field: 'approval_deadline' | 'code_expires_at' | 'offer_expires_at' | 'expires_at';
  reason: EndReason;
  /** Why, in the audit record of the end (none: the reason says it). */
  why?: string;
  /** Seconds before the deadline at which both parties are warned. */
  warnings?: readonly number[];
}

const APPROVAL_WINDOW: DeadlineRule = { field: 'approval_deadline', reason: 'expired', why: 'approval window lapsed' };

const DEADLINES: Record<SessionState, DeadlineRule | null> = {
  requested: APPROVAL_WINDOW,
  awaiting_approval: APPROVAL_WINDOW,
  approved: APPROVAL_WINDOW,
  code_issued: { field: 'code_expires_at', reason: 'code_expired' },
  pending_consent: { field: 'offer_expires_at', reason: 'consent_timed_out', why: 'offer not answered in time' },
  active: { field: 'expires_at', reason: 'expired', warnings: [300, 60] },
  ended: null,
};

export interface Deadline {
  at: number;
  reason: EndReason;
  why: string | undefined;
  warnings: readonly number[];
}

/** When, and how, the session in this row ends by itself; null if nothing ends it. */
export function deadlineOf(r: Row): Deadline | null {
  const rule = DEADLINES[r.state as SessionState];
  const at = rule ? r[rule.field] : null;
  if (!rule || at === null) return null;
  return { at, reason: rule.reason, why: rule.why, warnings: rule.warnings ?? [] };
}

/** The deadline, if it has already passed. */
export function overdue(r: Row, now: number): Deadline | null {
  const d = deadlineOf(r);
  return d && d.at <= now ? d : null;
}
