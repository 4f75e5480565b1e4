import type { EndReason } from '../../common/session-state.js';

/**
 * How a session ended, for someone reading its history afterwards (the analyst, an approver, an
 * auditor): third person, past tense, one sentence per end reason. A new end reason does not
 * compile until it has one here.
 */
export const HISTORY_END_TEXT: Record<EndReason, string> = {
  completed: 'The analyst ended it.',
  user_stopped: 'The end user stopped it.',
  expired: 'Its time ran out.',
  revoked: 'Ended with the kill switch.',
  ticket_closed: 'The ticket was closed.',
  declined: 'The end user declined; nothing was shared.',
  consent_timed_out: 'The end user did not answer in time; nothing was shared.',
  rejected: 'An approver rejected the request.',
  code_expired: 'The join code expired unused.',
  peer_lost: 'The connection was lost.',
  account_revoked: "The analyst's account was changed by an administrator.",
  verification_failed: 'The verification codes did not match: possibly tampered with.',
  recording_failed: 'The required recording stopped reaching the broker.',
  watcher_absent: 'Policy required a watcher, and nobody watched within the grace time after the last one left.',
  capture_refused: "The end user accepted, but their computer could not share its screen; nothing was shared.",
};

/** The same ends when the request never became a session (nobody accepted yet). */
const BEFORE_START: Partial<Record<EndReason, string>> = {
  completed: 'The analyst cancelled the request.',
  expired: 'The approval window closed before the end user joined.',
  revoked: 'Withdrawn with the kill switch before it started.',
};

/** What a row in the history says about its end, or where a session still stands. */
export function historyEndText(r: { state: string; end_reason: EndReason | null; started_at: number | null }): string {
  if (r.state !== 'ended' || r.end_reason === null) return r.state === 'active' ? 'Live now.' : 'Not started yet.';
  return (r.started_at === null ? BEFORE_START[r.end_reason] : undefined) ?? HISTORY_END_TEXT[r.end_reason];
}
