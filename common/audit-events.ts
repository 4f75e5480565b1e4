import { SESSION_STATES, type SessionState } from './session-state.js';

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Every audit event type the broker writes, with the outcome(s) it is written with: one list, the
 * way Teleport keeps lib/events/codes.go. The broker's audit log takes only these types (a
 * misspelled one does not compile) and test/integration/audit-catalogue.test.ts checks that what
 * a real broker stores is listed here. A new event is added here first; an auditor's tooling can
 * read the list instead of guessing from samples. Old logs may hold types no longer listed.
 */
const EVENTS = {
  'account.created': { outcomes: ['success'], about: 'an account was created (CLI, admin API or first run)' },
  'account.disabled': { outcomes: ['success'], about: 'an account was disabled; every token it holds is refused and its live sessions end (account_revoked)' },
  'account.enabled': { outcomes: ['success'], about: 'a disabled account may sign in again (its old tokens stay refused)' },
  'account.unlocked': { outcomes: ['success'], about: "an admin lifted an account's sign-in lockout" },
  'account.roles_changed': { outcomes: ['success'], about: "an account's roles were set; when one was taken away, its tokens are refused and its live sessions end" },
  'account.organisation_changed': { outcomes: ['success'], about: "an admin set an account's organisation (meta: before, after)" },
  'account.password_reset': { outcomes: ['success'], about: 'an admin gave an account a new one-time password; its tokens are refused and its live sessions end' },

  'auth.login': { outcomes: ['success'], about: 'a sign-in with password (and TOTP) succeeded' },
  'auth.login_failed': { outcomes: ['failure'], about: 'wrong username, password or one-time code (meta.why says which)' },
  'auth.login_locked': { outcomes: ['denied'], about: 'a sign-in to a locked account was refused' },
  'auth.logout': { outcomes: ['success'], about: 'a refresh token family was revoked' },
  'auth.password_change_required': { outcomes: ['denied'], about: 'a sign-in with a one-time password was refused until it is changed' },
  'audit.verified': { outcomes: ['success', 'failure'], about: 'an auditor or admin checked the stored chain from the console (failure: it is broken, meta.first_bad_seq)' },

  'auth.step_up': { outcomes: ['success'], about: 'a signed-in account passed a fresh second factor (control and files need one from the last policy.step_up_minutes)' },
  'auth.step_up_failed': { outcomes: ['failure'], about: 'a step-up code was wrong or already used, or a passkey answer was refused (meta.factor, meta.why)' },
  'hook.retried': { outcomes: ['success'], about: 'an admin asked for one more attempt at a failed webhook delivery (meta.delivery_id)' },
  'policy.changed': { outcomes: ['success'], about: 'an admin saved the policy in the console (meta: version, changed: the fields, diff: `field: before -> after` for each)' },
  'auth.passkey_added': { outcomes: ['success'], about: 'a signed-in account added a passkey (meta.name, meta.passkey: the start of its credential id)' },
  'auth.passkey_removed': { outcomes: ['success'], about: 'a signed-in account removed one of its passkeys' },
  'auth.passkey_failed': { outcomes: ['failure'], about: 'a passkey was refused when adding one or signing in with one (meta.why: used or foreign challenge, wrong origin or rp id, counter, ...)' },
  'auth.sso_refused': { outcomes: ['denied'], about: 'a single sign-on through the identity provider was refused (meta.why: wrong state, device, issuer, audience, nonce, PKCE code, disabled, no role)' },
  'auth.first_sign_in_started': { outcomes: ['success'], about: 'a one-time password was accepted in the app; the account sets its own password (and enrols TOTP) next' },
  'auth.first_sign_in_failed': { outcomes: ['failure'], about: 'finishing a first sign-in was refused (meta.why: weak password, wrong code, expired)' },
  'auth.totp_enrolled': { outcomes: ['success'], about: "an account confirmed its authenticator app with a first code" },
  'auth.password_changed': { outcomes: ['success'], about: "a password was replaced; the account's other tokens are refused and its live sessions end" },
  'auth.refresh_failed': { outcomes: ['denied'], about: 'a refresh token was refused (a reused one revokes its family)' },
  'auth.refreshed': { outcomes: ['success'], about: 'a refresh token was traded for a new pair' },
  'auth.request_rejected': { outcomes: ['denied'], about: 'a request without a valid access token or device proof' },
  'auth.role_denied': { outcomes: ['denied'], about: 'a signed-in account lacked the role a route needs' },

  'broker.started': { outcomes: ['success'], about: 'the broker started' },
  'broker.resumed': { outcomes: ['success'], about: 'live sessions were reloaded after a start; overdue ones ended' },
  'broker.stopped': { outcomes: ['success'], about: 'the broker stopped' },

  'client.teardown_report': { outcomes: ['success'], about: "the end user's client reported the local grants it dropped" },
  'client.teardown_report_refused': { outcomes: ['denied'], about: 'a teardown report from a device that is not the end user of the session' },

  'consent.receipt_rejected': { outcomes: ['denied'], about: 'a consent or extension receipt failed its checks' },
  'consent.refused': { outcomes: ['denied'], about: 'a consent from a device that did not redeem the code' },

  'extension.requested': { outcomes: ['success'], about: 'the analyst asked for more time' },
  'extension.refused': { outcomes: ['denied'], about: 'more time beyond the hard maximum was refused' },
  'extension.approved': { outcomes: ['success'], about: 'an approver approved more time (the end user is asked next)' },
  'extension.rejected': { outcomes: ['success'], about: 'an approver refused more time' },
  'extension.accepted': { outcomes: ['success'], about: 'the end user accepted more time with a signed receipt' },
  'extension.declined': { outcomes: ['success'], about: 'the end user declined more time' },

  'clipboard.sync': { outcomes: ['success'], about: 'clipboard text or a picture synced in a session, as the end user\'s machine recorded it: meta {direction, type (text or image/png), length (characters or bytes)}, never the content' },

  'file.transfer': { outcomes: ['success'], about: "a file transfer's offer, decision or end, as the end user's machine recorded it: meta {transfer_id, event, direction, name, size, sha256, reason?}, never the content" },

  'grant.requested': { outcomes: ['success'], about: 'the analyst asked for a capability inside the session' },
  'grant.refused': { outcomes: ['denied'], about: 'a grant request or answer was refused: capability not approved, request id already used, or an answer naming another capability (meta.why)' },
  'grant.granted': { outcomes: ['success'], about: 'the end user allowed a capability' },
  'grant.denied': { outcomes: ['success'], about: 'the end user refused a capability' },
  'grant.revoked': { outcomes: ['success'], about: 'a capability was taken back' },
  'grant.timed_out': { outcomes: ['success'], about: 'nobody answered a grant request in time; the broker answered it as refused' },

  'hook.delivery_failed': { outcomes: ['failure'], about: 'a post-session hook failed after every retry' },

  'http.not_found': { outcomes: ['denied'], about: 'a request under /api for a route that does not exist' },
  'http.request_refused': { outcomes: ['denied'], about: 'a request the HTTP layer refused (body, media type, size)' },

  'join.code_capacity': { outcomes: ['denied'], about: 'a join code was refused because too many are live' },
  'join.rate_limited': { outcomes: ['denied'], about: 'a redemption was refused after too many wrong codes' },
  'join.redeem_failed': { outcomes: ['failure'], about: 'a join code was wrong, used, expired or lost a race' },

  'keys.rotated': { outcomes: ['success'], about: 'the broker started signing with a new key' },

  'recording.started': { outcomes: ['success'], about: 'a session became active with recording on (meta.mode: best_effort or required, as the signed offer said)' },
  'recording.chunk': { outcomes: ['success'], about: "a chunk of the end user's recording was stored: meta.seq, meta.bytes, meta.sha256 (what evidence verify checks the chunk files against)" },
  'recording.chunk_refused': { outcomes: ['denied'], about: 'a chunk was refused: out of order, repeated with other bytes, after the end, wrong length or hash, too large, too many (meta.why)' },
  'recording.store_failed': { outcomes: ['failure'], about: 'the recording store could not keep a chunk; it was not acked' },
  'recording.stalled': { outcomes: ['failure'], about: 'a required recording had no chunk acked for stall_suspend_seconds: control was taken back' },
  'recording.resumed': { outcomes: ['success'], about: 'a chunk was acked again after a stall; control may be asked for again' },
  'recording.finalised': { outcomes: ['success'], about: 'the broker signed the recording manifest (meta.manifest_sha256; meta.finalised at_end or after_restart)' },
  'recording.viewed': { outcomes: ['success'], about: 'an auditor or admin opened a recording in the console: a playback ticket was issued to them (meta.jti, meta.expires_at)' },
  'recording.exported': { outcomes: ['success'], about: "someone exported a session's evidence bundle" },
  'recording.deleted': { outcomes: ['success'], about: 'a recording was deleted (retention or quota); its manifest hash stays in the chain' },
  'transcript.batch': { outcomes: ['success'], about: "a batch of the transcript from the end user's input gate was stored (meta.seq, meta.lines, meta.sha256)" },
  'transcript.batch_refused': { outcomes: ['denied'], about: 'a transcript batch was refused (meta.why)' },

  'session.reissued': { outcomes: ['success'], about: 'a join code that expired unused was reissued under the same approval, as a new session (meta.from: the expired one)' },
  'session.reissue_refused': { outcomes: ['denied'], about: 'a reissue was refused: not an expired code, approval lapsed, ticket closed or already reissued (meta.code)' },
  'session.request_refused': { outcomes: ['denied'], about: 'a session request was refused (role, policy, ticket)' },
  'session.action_denied': { outcomes: ['denied'], about: 'an action on a session by someone not allowed to take it' },
  'session.transition_refused': { outcomes: ['denied'], about: 'a move the lifecycle does not allow from the current state' },

  'signaling.connected': { outcomes: ['success'], about: 'a party authenticated on signaling' },
  'signaling.frame_refused': { outcomes: ['denied'], about: 'a signaling frame was refused (throttled per socket)' },

  'ticket.open': { outcomes: ['success'], about: 'the ticketing system marked a ticket open' },
  'ticket.approved': { outcomes: ['success'], about: 'the ticketing system marked a ticket approved' },
  'ticket.closed': { outcomes: ['success'], about: 'the ticketing system closed a ticket (its sessions end)' },
  'ticket.webhook_rejected': { outcomes: ['denied'], about: 'a ticket webhook with a bad signature, a stale timestamp or a replay' },

  'watch.ticket_issued': { outcomes: ['success'], about: 'a supervisor or admin was given a ticket for the watch socket of a live session (meta.jti, meta.expires_at)' },
  'watch.refused': { outcomes: ['denied'], about: 'watching was refused: the offer did not allow watchers, it is the caller\'s own session, or it is not active (meta.why)' },
  'watch.joined': { outcomes: ['success'], about: 'a watcher joined a live session (meta: watcher_id, role, counts: whether it counts towards required watchers, picture)' },
  'watch.left': { outcomes: ['success'], about: 'a watcher left (meta: watcher_id, why: closed, lapsed (no heartbeat, or the broker holding the socket stopped), ended, account)' },
  'watch.requirement_unmet': { outcomes: ['success'], about: 'fewer required watchers than policy asks were left: control was suspended (meta: needed, on_leave, ends_at)' },
  'watch.requirement_met': { outcomes: ['success'], about: 'enough required watchers are present again (or for the first time): control may be asked for' },
  'moderation.control_suspended': { outcomes: ['success'], about: 'a watcher suspended control (meta.note_length); the end user\'s gate locks' },
  'moderation.control_resumed': { outcomes: ['success'], about: 'a watcher resumed control it had suspended' },
  'moderation.note': { outcomes: ['success'], about: 'a watcher sent a note to the analyst (meta.length, never the text)' },
  'moderation.ended': { outcomes: ['success'], about: 'a watcher ended the session (it ends as revoked; meta.reason_length)' },

  'token.issued': { outcomes: ['success'], about: 'a session token for signaling was issued' },
} as const satisfies Record<string, { outcomes: readonly AuditOutcome[]; about: string }>;

/** The lifecycle writes `session.<state>` on entering each state (common/session-state.ts). */
type SessionStateEvent = `session.${SessionState}`;

const SESSION_STATE_EVENTS = Object.fromEntries(
  SESSION_STATES.map((s) => [`session.${s}`, { outcomes: ['success'], about: `the session moved to ${s}` }]),
) as unknown as Record<SessionStateEvent, { outcomes: readonly ['success']; about: string }>;

export type AuditEventType = keyof typeof EVENTS | SessionStateEvent;

export const AUDIT_EVENT_TYPES: Readonly<Record<AuditEventType, { readonly outcomes: readonly AuditOutcome[]; readonly about: string }>> = {
  ...EVENTS,
  ...SESSION_STATE_EVENTS,
};

export function isAuditEventType(t: string): t is AuditEventType {
  return Object.hasOwn(AUDIT_EVENT_TYPES, t);
}
