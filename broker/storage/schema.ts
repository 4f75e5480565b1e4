/** Times are milliseconds since the epoch, stored as 64-bit integers on both engines. */
export interface AccountsTable {
  id: string;
  username: string;
  display_name: string;
  organisation: string;
  kind: string;
  roles: string; // comma separated, from common/roles
  password_hash: string;
  must_change_password: number;
  totp_secret: string | null;
  totp_last_step: number;
  disabled: number;
  failed_logins: number;
  locked_until: number;
  mfa_at: number;
  created_at: number;
  /** Moves on whenever the account's tokens must stop working (disabled, a role removed, a new password). */
  token_epoch: number;
  /** Single sign-on: the identity provider that vouches for this account and its subject there (null: a local account). */
  sso_issuer: string | null;
  sso_subject: string | null;
  /** From the latest ID token: how the person authenticated (`amr`, comma separated) and its `acr`. */
  mfa_amr: string;
  mfa_acr: string | null;
}

/** A sign-in through the identity provider between its start and its finish (broker/auth/oidc.ts). */
export interface OidcFlowsTable {
  state: string;
  nonce: string;
  code_verifier: string;
  /** The device key that started it: only that key can finish it. */
  jkt: string;
  redirect_uri: string;
  return_to: string | null;
  purpose: string; // sign_in | step_up
  account_id: string | null;
  max_age_s: number | null;
  expires_at: number;
  used_at: number | null;
}

export interface DevicesTable {
  jkt: string;
  jwk: string;
  first_seen: number;
  last_seen: number;
}

export interface RefreshTokensTable {
  id: string;
  family_id: string;
  account_id: string;
  jkt: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  /** The account's token epoch when it was issued; good only while the account's is the same. */
  epoch: number;
}

export interface TicketsTable {
  ref: string;
  status: string; // open | approved | closed
  updated_at: number;
}

export interface SessionsTable {
  id: string;
  ticket_ref: string;
  reason: string;
  analyst_id: string;
  capabilities: string; // comma separated
  duration_s: number;
  state: string;
  end_reason: string | null;
  approval_required: number;
  approval_why: string;
  approver_id: string | null;
  approved_at: number | null;
  approval_deadline: number | null;
  code_hash: string | null;
  code_expires_at: number | null;
  end_user_jkt: string | null;
  offer_hash: string | null;
  offer_expires_at: number | null;
  activated_at: number | null;
  expires_at: number | null;
  hard_deadline: number | null;
  created_at: number;
  ended_at: number | null;
  version: number;
  /** Why the approver rejected the request (null otherwise). */
  decision_note: string | null;
  /** The analyst's token epoch when they asked: the session ends when the account's moves on. */
  analyst_epoch: number;
  /** The offer's `watchers` claim as JSON (common/watch.ts WatchTerms); null before the offer. */
  watch_terms: string | null;
  /** When enough required watchers were first present (null: never, or no requirement). */
  watch_met_at: number | null;
  /** The watcher who suspended control (display name), and their words; null while not suspended by one. */
  control_suspended_by: string | null;
  control_suspended_note: string | null;
}

/** A watch socket of a live session (broker/sessions/watchers.ts); left_at set when it closed or lapsed. */
export interface SessionWatchersTable {
  id: string;
  session_id: string;
  account_id: string;
  username: string;
  name: string;
  role: string;
  organisation: string;
  since: number;
  counts: number;
  seen_at: number;
  left_at: number | null;
  left_why: string | null;
}

export interface SessionTokensTable {
  jti: string;
  session_id: string;
  role: string;
  jkt: string;
  expires_at: number;
  revoked_at: number | null;
}

export interface GrantsTable {
  id: string;
  session_id: string;
  capability: string;
  state: string; // requested | granted | denied | revoked
  requested_at: number;
  decided_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
  /** The analyst's id for the request (unique per session); null for rows from before it was kept. */
  request_id: string | null;
}

export interface ExtensionsTable {
  id: string;
  session_id: string;
  minutes: number;
  state: string; // awaiting_approval | awaiting_consent | accepted | declined | rejected | lapsed
  requested_at: number;
  approver_id: string | null;
  decided_at: number | null;
  decision_note: string | null;
}

export interface WebhookReplaysTable {
  signature: string;
  seen_at: number;
}

export interface HookDeliveriesTable {
  id: string;
  event_type: string;
  url: string;
  payload: string;
  status: string; // pending | delivered | failed
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

export interface AuditEventsTable {
  seq: number;
  id: string;
  ts: number;
  type: string;
  outcome: string;
  actor: string;
  session_id: string | null;
  ticket: string | null;
  source: string | null;
  meta: string;
  prev_hash: string;
  hash: string;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  ts: number;
  kid: string;
  sig: string;
}

export interface LimitCountersTable {
  name: string;
  hits: number;
  window_end: number;
}

export interface ReplayIdsTable {
  id: string;
  expires_at: number;
}

export interface TeardownReportsTable {
  session_id: string;
  after_crash: number;
  received_at: number;
}

/** One per recorded session: where it stands, the next seq it takes, and the finalised manifest's hash. */
export interface RecordingsTable {
  session_id: string;
  mode: string; // off | best_effort | required (common/recording.ts), as the signed offer said
  state: string; // recording | finalising | finalised | deleted
  next_seq: number;
  chunks: number;
  bytes: number;
  first_at: number | null;
  last_at: number | null;
  /** sha256 of the manifest JWS (also in the chain as recording.finalised). */
  manifest_sha256: string | null;
  finalised: string | null; // at_end | after_restart
  finalised_at: number | null;
  deleted_at: number | null;
  next_transcript_seq: number;
}

/** One row (id 'recordings'): the bytes of every recording in state finalised, kept with each state change. */
export interface RecordingTotalsTable {
  id: string;
  finalised_bytes: number;
}

export interface RecordingChunksTable {
  session_id: string;
  seq: number;
  bytes: number;
  sha256: string;
  received_at: number;
}

/** A person's passkey (WebAuthn credential): the public key and the last signature counter seen. */
export interface PasskeysTable {
  /** The credential id, base64url. */
  id: string;
  account_id: string;
  name: string;
  public_key: string;
  counter: number;
  transports: string;
  created_at: number;
  last_used_at: number | null;
}

/** A WebAuthn challenge handed out and not yet answered: good once, for one account and purpose. */
export interface WebauthnChallengesTable {
  id: string;
  account_id: string;
  purpose: string;
  challenge: string;
  expires_at: number;
}

/** The policy as an admin last set it in the console (one row, id 'policy'); broker.json's until then. */
export interface PolicySettingsTable {
  id: string;
  policy: string;
  version: number;
  changed_by: string;
  changed_at: number;
}

export interface Database {
  accounts: AccountsTable;
  devices: DevicesTable;
  refresh_tokens: RefreshTokensTable;
  tickets: TicketsTable;
  sessions: SessionsTable;
  session_tokens: SessionTokensTable;
  session_watchers: SessionWatchersTable;
  grants: GrantsTable;
  extensions: ExtensionsTable;
  webhook_replays: WebhookReplaysTable;
  hook_deliveries: HookDeliveriesTable;
  audit_events: AuditEventsTable;
  audit_checkpoints: AuditCheckpointsTable;
  limit_counters: LimitCountersTable;
  replay_ids: ReplayIdsTable;
  teardown_reports: TeardownReportsTable;
  recordings: RecordingsTable;
  recording_chunks: RecordingChunksTable;
  recording_totals: RecordingTotalsTable;
  passkeys: PasskeysTable;
  webauthn_challenges: WebauthnChallengesTable;
  policy_settings: PolicySettingsTable;
  oidc_flows: OidcFlowsTable;
  kysely_migration: { name: string; timestamp: string };
}
