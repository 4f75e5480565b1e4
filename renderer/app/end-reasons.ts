import type { EndReason } from '../../common/session-state.js';

/**
 * Every way a session can end, in a plain sentence for each reader. Typed over every broker end
 * reason, so a new reason does not compile until both
 * readers have a sentence for it; no code such as `revoked` or `ended(declined)` reaches a person.
 */
export type ShownEndReason = EndReason;

/** Ends that came before anything was shared: the end screen says so once, in its own line. */
export function nothingWasShared(reason: string): boolean {
  return reason === 'declined' || reason === 'consent_timed_out' || reason === 'capture_refused';
}

export const END_REASON_TEXT: Record<ShownEndReason, string> = {
  completed: 'The support person ended the session.',
  user_stopped: 'You stopped the session.',
  expired: 'The session reached the end of its time.',
  revoked: 'An administrator or approver ended the session with the kill switch.',
  ticket_closed: 'The ticket was closed, so the session ended.',
  declined: 'The session was declined.',
  consent_timed_out: 'You did not answer in time, so the offer expired.',
  rejected: 'The request was rejected by an approver.',
  code_expired: 'The join code expired before it was used.',
  peer_lost: 'The connection to the other side was lost.',
  account_revoked: "The support person's account was changed by an administrator, so the session was ended.",
  verification_failed: 'The verification codes did not match, so the session was ended before anything more was allowed. Someone may have been listening in between: tell your IT team.',
  capture_refused: 'Your screen could not be shared, so the session did not start.',
  recording_failed: 'Your organisation requires this session to be recorded, and the recording stopped reaching it, so the session was ended.',
  watcher_absent: 'Your organisation requires someone to watch this session, and nobody was watching for too long, so the session was ended.',
};

/** The same ends, from the analyst's side of the session. */
export const ANALYST_END_TEXT: Record<ShownEndReason, string> = {
  ...END_REASON_TEXT,
  completed: 'You ended the session.',
  user_stopped: 'The end user stopped the session.',
  declined: 'The end user declined the session.',
  consent_timed_out: 'The end user did not answer in time: the offer expired before they accepted or declined. Nothing was shared. Request a new session to try again.',
  account_revoked: 'Your account was changed by an administrator (disabled, a role removed or the password reset), so the session was ended.',
  verification_failed: 'The verification codes did not match, so the session was ended. The connection may have been tampered with: report it to your security team.',
  capture_refused: "The end user's computer could not share its screen, so the session did not start.",
  recording_failed: "Policy requires this session to be recorded and the end user's recording stopped reaching the broker, so the session was ended.",
  watcher_absent: 'Policy requires a watcher for this session, and none came back within the grace time after the last one left, so the session was ended.',
};

/** What the analyst reads when a request ends before it ever became a session. */
export const ANALYST_REQUEST_END_TEXT: Partial<Record<ShownEndReason, string>> = {
  completed: 'You cancelled the request. No session took place.',
  expired: 'The approval window closed before the end user joined. Request a new session to try again.',
  revoked: 'An administrator or approver withdrew the request with the kill switch.',
  code_expired: 'The join code expired before the end user entered it.',
};

const FALLBACK = 'The session has ended.';

/** The sentence for an end; a reason this build does not know still reads as a sentence. */
export function endText(map: Record<ShownEndReason, string>, reason: string | null | undefined): string {
  return reason && Object.hasOwn(map, reason) ? map[reason as ShownEndReason] : FALLBACK;
}

/**
 * Why this machine did not start sharing after the Accept (main's grant registry refused the
 * capture), for the end user. The codes stay in the code: the person reads what to do.
 */
export function captureRefusalText(reason: string): string {
  switch (reason) {
    case 'other_session':
      return 'This computer is still closing an earlier support session. Wait a moment, then ask the person helping you for a new code.';
    case 'session_ended':
    case 'session_expired':
    case 'unknown_session':
      return 'The session ended before your screen could be shared. Ask the person helping you for a new code.';
    case 'already_granted':
      return 'Your screen is already being shared in this session.';
    default:
      return 'This computer could not start sharing your screen. Ask the person helping you for a new code; if it happens again, tell your IT team.';
  }
}
