import { missingCase } from './missing-case.js';

export const SESSION_STATES = [
  'requested',
  'awaiting_approval',
  'approved',
  'code_issued',
  'pending_consent',
  'active',
  'ended',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const END_REASONS = [
  'completed',
  'user_stopped',
  'expired',
  'revoked',
  'ticket_closed',
  'declined',
  /** The end user saw the offer and did not answer before it expired. */
  'consent_timed_out',
  'rejected',
  'code_expired',
  'peer_lost',
  /** The analyst's account was disabled, lost a role, or had its password reset or changed. */
  'account_revoked',
  /** A side found that the verification code cannot be trusted (the peer's reveal did not match, or the end user said the codes differ). */
  'verification_failed',
  /** Policy requires a recording and the broker acked no chunk of it for too long (common/recording.ts). */
  'recording_failed',
  /** Policy requires a watcher; too few were present for longer than its grace (common/watch.ts, on_leave: end). */
  'watcher_absent',
  /** The end user accepted, then their computer could not share its screen (operating-system permission, the picker closed): the session never showed anything. */
  'capture_refused',
] as const;
export type EndReason = (typeof END_REASONS)[number];

/** Which end reasons are possible from each live state. An end not listed here is an illegal transition. */
export function endReasonsFrom(state: Exclude<SessionState, 'ended'>): readonly EndReason[] {
  switch (state) {
    case 'requested':
      return ['rejected', 'ticket_closed', 'account_revoked'];
    case 'awaiting_approval':
      return ['rejected', 'expired', 'revoked', 'ticket_closed', 'completed', 'account_revoked'];
    case 'approved':
      return ['expired', 'revoked', 'ticket_closed', 'completed', 'account_revoked'];
    case 'code_issued':
      return ['code_expired', 'revoked', 'ticket_closed', 'completed', 'account_revoked'];
    case 'pending_consent':
      return ['declined', 'consent_timed_out', 'revoked', 'ticket_closed', 'completed', 'account_revoked'];
    case 'active':
      return ['completed', 'user_stopped', 'expired', 'revoked', 'ticket_closed', 'peer_lost', 'account_revoked', 'verification_failed', 'recording_failed', 'watcher_absent', 'capture_refused'];
    default:
      return missingCase(state);
  }
}

/** Forward (non-ending) moves of the lifecycle. */
export function nextStatesFrom(state: SessionState): readonly SessionState[] {
  switch (state) {
    case 'requested':
      return ['awaiting_approval', 'approved'];
    case 'awaiting_approval':
      return ['approved'];
    case 'approved':
      return ['code_issued'];
    case 'code_issued':
      return ['pending_consent'];
    case 'pending_consent':
      return ['active'];
    case 'active':
      return [];
    case 'ended':
      return [];
    default:
      return missingCase(state);
  }
}

export type Transition =
  | { readonly to: Exclude<SessionState, 'ended'> }
  | { readonly to: 'ended'; readonly reason: EndReason };

export type TransitionCheck = { ok: true } | { ok: false; why: string };

/** The one rule book both the broker and the clients use to decide whether a move is legal. */
export function checkTransition(from: SessionState, t: Transition): TransitionCheck {
  if (from === 'ended') return { ok: false, why: 'session has already ended' };
  if (t.to === 'ended') {
    return endReasonsFrom(from).includes(t.reason)
      ? { ok: true }
      : { ok: false, why: `a session in state ${from} cannot end as ${t.reason}` };
  }
  return nextStatesFrom(from).includes(t.to)
    ? { ok: true }
    : { ok: false, why: `illegal transition ${from} -> ${t.to}` };
}

export function isLive(state: SessionState): boolean {
  return state !== 'ended';
}
