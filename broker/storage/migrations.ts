import { type Kysely, type Migration, type MigrationProvider, Migrator, PostgresAdapter, sql } from 'kysely';

/** One set of migrations for SQLite and PostgreSQL: only portable column types are used. */
const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('organisation', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('must_change_password', 'integer', (c) => c.notNull())
        .addColumn('totp_secret', 'text')
        .addColumn('totp_last_step', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('locked_until', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('mfa_at', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('devices')
        .addColumn('jkt', 'text', (c) => c.primaryKey())
        .addColumn('jwk', 'text', (c) => c.notNull())
        .addColumn('first_seen', 'bigint', (c) => c.notNull())
        .addColumn('last_seen', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('jkt', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute();
      await db.schema
        .createTable('tickets')
        .addColumn('ref', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('ticket_ref', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('analyst_id', 'text', (c) => c.notNull())
        .addColumn('capabilities', 'text', (c) => c.notNull())
        .addColumn('duration_s', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('end_reason', 'text')
        .addColumn('approval_required', 'integer', (c) => c.notNull())
        .addColumn('approval_why', 'text', (c) => c.notNull())
        .addColumn('approver_id', 'text')
        .addColumn('approved_at', 'bigint')
        .addColumn('approval_deadline', 'bigint')
        .addColumn('code_hash', 'text', (c) => c.unique())
        .addColumn('code_expires_at', 'bigint')
        .addColumn('end_user_jkt', 'text')
        .addColumn('offer_hash', 'text')
        .addColumn('offer_expires_at', 'bigint')
        .addColumn('activated_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addColumn('hard_deadline', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('sessions_state').on('sessions').column('state').execute();
      await db.schema.createIndex('sessions_ticket').on('sessions').column('ticket_ref').execute();
      await db.schema
        .createTable('session_tokens')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('jkt', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('session_tokens_session').on('session_tokens').column('session_id').execute();
      await db.schema
        .createTable('grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('capability', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addColumn('decided_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_by', 'text')
        .execute();
      await db.schema.createIndex('grants_session').on('grants').column('session_id').execute();
      await db.schema
        .createTable('extensions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('minutes', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addColumn('approver_id', 'text')
        .addColumn('decided_at', 'bigint')
        .execute();
      await db.schema
        .createTable('webhook_replays')
        .addColumn('signature', 'text', (c) => c.primaryKey())
        .addColumn('seen_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('hook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('delivered_at', 'bigint')
        .execute();
      await db.schema.createIndex('hook_deliveries_status').on('hook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema
        .createTable('audit_events')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('ts', 'bigint', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text')
        .addColumn('ticket', 'text')
        .addColumn('source', 'text')
        .addColumn('meta', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_session').on('audit_events').column('session_id').execute();
      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('ts', 'bigint', (c) => c.notNull())
        .addColumn('kid', 'text', (c) => c.notNull())
        .addColumn('sig', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0002_decision_note': {
    // The approver's reason for a rejection, shown to the analyst; the audit keeps only its length.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('sessions').addColumn('decision_note', 'text').execute();
    },
  },
  '0003_extension_decision_note': {
    // The approver's reason for refusing more time, shown to the analyst.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('extensions').addColumn('decision_note', 'text').execute();
    },
  },
  '0004_grant_request_id': {
    // A request id names one request of one session for good: a second request with the same id
    // is refused, also after a restart, also when two arrive at once.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('grants').addColumn('request_id', 'text').execute();
      await db.schema.createIndex('grants_request_id').on('grants').columns(['session_id', 'request_id']).unique().execute();
    },
  },
  '0005_token_epoch': {
    // Every token an account holds is stamped with the account's epoch, which each use checks:
    // disabling, taking a role away or a new password moves the epoch on and refuses them all.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('accounts').addColumn('token_epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('refresh_tokens').addColumn('epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('sessions').addColumn('analyst_epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0006_limits': {
    // The shared counters and replay caches (storage/limits.ts), so that they hold across
    // requests arriving together, across a restart, and across brokers sharing the database.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('limit_counters')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('hits', 'integer', (c) => c.notNull())
        .addColumn('window_end', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('limit_counters_window_end').on('limit_counters').column('window_end').execute();
      await db.schema
        .createTable('replay_ids')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('replay_ids_expires_at').on('replay_ids').column('expires_at').execute();
    },
  },
  '0007_teardown_reports': {
    // One teardown report per session and kind (after a crash or not), also when two arrive at once.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('teardown_reports')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('after_crash', 'integer', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('teardown_reports_pk', ['session_id', 'after_crash'])
        .execute();
    },
  },
  '0008_recordings': {
    // Session recordings (common/recording.ts): the row's next_seq is advanced by one conditional
    // update per chunk, so a chunk out of order or twice is refused also when two arrive at once
    // and across brokers sharing the database; the chunk rows are what the manifest lists.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('recordings')
        .addColumn('session_id', 'text', (c) => c.primaryKey())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('next_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('chunks', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('first_at', 'bigint')
        .addColumn('last_at', 'bigint')
        .addColumn('manifest_sha256', 'text')
        .addColumn('finalised', 'text')
        .addColumn('finalised_at', 'bigint')
        .addColumn('deleted_at', 'bigint')
        .addColumn('next_transcript_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('recording_chunks')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('recording_chunks_pk', ['session_id', 'seq'])
        .execute();
    },
  },
  '0009_passkeys': {
    // Challenges live in the database, not in one broker's memory, so the answer may reach another
    // instance than the one that handed the challenge out; consuming one is a single DELETE.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('passkeys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('counter', 'bigint', (c) => c.notNull())
        .addColumn('transports', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('passkeys_account').on('passkeys').column('account_id').execute();
      await db.schema
        .createTable('webauthn_challenges')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('challenge', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webauthn_challenges_account').on('webauthn_challenges').column('account_id').execute();
    },
  },
  '0010_policy_settings': {
    // In the database, so every broker on it runs the policy an admin set in the console.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('policy_settings')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('changed_by', 'text', (c) => c.notNull())
        .addColumn('changed_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0011_sso': {
    // Single sign-on: an account is linked to one subject of one identity provider, and a sign-in
    // through it is remembered between its start and its finish, bound to the device key.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('accounts').addColumn('sso_issuer', 'text').execute();
      await db.schema.alterTable('accounts').addColumn('sso_subject', 'text').execute();
      await db.schema.alterTable('accounts').addColumn('mfa_amr', 'text', (c) => c.notNull().defaultTo('')).execute();
      await db.schema.alterTable('accounts').addColumn('mfa_acr', 'text').execute();
      await db.schema.createIndex('accounts_sso').on('accounts').columns(['sso_issuer', 'sso_subject']).unique().execute();
      await db.schema
        .createTable('oidc_flows')
        .addColumn('state', 'text', (c) => c.primaryKey())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('code_verifier', 'text', (c) => c.notNull())
        .addColumn('jkt', 'text', (c) => c.notNull())
        .addColumn('redirect_uri', 'text', (c) => c.notNull())
        .addColumn('return_to', 'text')
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text')
        .addColumn('max_age_s', 'integer')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
    },
  },
  '0012_watch': {
    // Monitored sessions: the watcher terms the offer stated (kept, so a policy saved later does
    // not change them), when the watcher requirement was first met (after a restart no watcher is
    // connected, so such a session starts suspended), and a watcher's suspension of control (held
    // across restarts and by every broker on the database: control must not come back by itself).
    async up(db: Kysely<any>) {
      await db.schema.alterTable('sessions').addColumn('watch_terms', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('watch_met_at', 'bigint').execute();
      await db.schema.alterTable('sessions').addColumn('control_suspended_by', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('control_suspended_note', 'text').execute();
      // Who watches which session, as every broker on the database sees it: a row per watch
      // socket, kept fresh (seen_at) by the instance holding it, so watchers on any instance count
      // and those of an instance that died lapse by themselves.
      await db.schema
        .createTable('session_watchers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('organisation', 'text', (c) => c.notNull())
        .addColumn('since', 'bigint', (c) => c.notNull())
        .addColumn('counts', 'integer', (c) => c.notNull())
        .addColumn('seen_at', 'bigint', (c) => c.notNull())
        .addColumn('left_at', 'bigint')
        .addColumn('left_why', 'text')
        .execute();
      await db.schema.createIndex('session_watchers_session').on('session_watchers').columns(['session_id', 'left_at']).execute();
    },
  },
  '0013_recording_totals': {
    // Retention runs after every finalisation: the bytes of all finalised recordings are kept as
    // one stored total instead of a sum over a table that grows with the broker's history, and
    // the rows past the retention are found through an index instead of a scan. Triggers keep the
    // total in the statement that changes a recording's state or bytes, whichever code or broker
    // runs it, so it is always the sum it replaces.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('recording_totals')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('finalised_bytes', 'bigint', (c) => c.notNull())
        .execute();
      await sql`INSERT INTO recording_totals (id, finalised_bytes) SELECT 'recordings', COALESCE(SUM(bytes), 0) FROM recordings WHERE state = 'finalised'`.execute(db);
      await db.schema.createIndex('recordings_state_finalised_at').on('recordings').columns(['state', 'finalised_at']).execute();
      const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
      const counted = (row: 'NEW' | 'OLD') => `CASE WHEN ${row}.state = 'finalised' THEN ${row}.bytes ELSE 0 END`;
      // Only a change to what counts touches the one totals row (SQLite: the WHEN clauses): a chunk
      // advancing a recording's bytes must not lock it, or uploads of all sessions would queue.
      if (postgres) {
        await sql.raw(`CREATE FUNCTION recording_totals_track() RETURNS trigger LANGUAGE plpgsql AS $$
          DECLARE delta bigint;
          BEGIN
            delta := (CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE ${counted('NEW')} END)
              - (CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE ${counted('OLD')} END);
            IF delta <> 0 THEN
              UPDATE recording_totals SET finalised_bytes = finalised_bytes + delta WHERE id = 'recordings';
            END IF;
            RETURN NULL;
          END $$`).execute(db);
        await sql.raw(`CREATE TRIGGER recordings_total AFTER INSERT OR DELETE OR UPDATE OF state, bytes ON recordings FOR EACH ROW EXECUTE FUNCTION recording_totals_track()`).execute(db);
      } else {
        await sql.raw(`CREATE TRIGGER recordings_total_insert AFTER INSERT ON recordings WHEN NEW.state = 'finalised' BEGIN
          UPDATE recording_totals SET finalised_bytes = finalised_bytes + NEW.bytes WHERE id = 'recordings'; END`).execute(db);
        await sql.raw(`CREATE TRIGGER recordings_total_delete AFTER DELETE ON recordings WHEN OLD.state = 'finalised' BEGIN
          UPDATE recording_totals SET finalised_bytes = finalised_bytes - OLD.bytes WHERE id = 'recordings'; END`).execute(db);
        await sql.raw(`CREATE TRIGGER recordings_total_update AFTER UPDATE OF state, bytes ON recordings WHEN OLD.state = 'finalised' OR NEW.state = 'finalised' BEGIN
          UPDATE recording_totals SET finalised_bytes = finalised_bytes + ${counted('NEW')} - ${counted('OLD')} WHERE id = 'recordings'; END`).execute(db);
      }
    },
  },
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export async function migrateToLatest(db: Kysely<any>, schema?: string): Promise<void> {
  // The migrator asks the database's introspector which tables exist: on PostgreSQL that looks
  // only at the broker's own schema (storage/pg-own-schema.ts), so schemas dropped by others meanwhile do not matter.
  const migrator = new Migrator({ db, provider: new StaticProvider(), ...(schema ? { migrationTableSchema: schema } : {}) });
  const outcome = await migrator.migrateToLatest();
  const { error, results } = outcome;
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`);
  }
}
