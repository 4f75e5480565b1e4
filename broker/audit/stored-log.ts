import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { AuditCheckpoint, AuditMeta, AuditOutcome, StoredAuditEvent } from '../../common/audit-chain.js';
import { KeyRing } from '../keys.js';
import { openStorage } from '../storage/db.js';

/**
 * Reading the stored audit log as it stands, for verify and export: one consistent snapshot of
 * checkpoints and events on either engine, read-only, without migrating or creating anything.
 */

export interface StoredLogOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  pgSchema?: string | undefined;
}

const PAGE = 5000;
// Small enough that events die in the young generation: chunks of 5,000 survived scavenges and
// cost about 40% more CPU in promotion and old-space GC.
const SQLITE_CHUNK = 512;
const EVENT_COLUMNS = ['seq', 'id', 'ts', 'type', 'outcome', 'actor', 'session_id', 'ticket', 'source', 'meta', 'prev_hash', 'hash'] as const;

/** A consistent view of the stored log: checkpoints and events come from one snapshot. */
export interface LogSnapshot {
  checkpoints(afterSeq: number): Promise<AuditCheckpoint[]>;
  /** Events with seq > afterSeq in seq order, in chunks so consumers await per chunk, not per event. */
  events(afterSeq: number): AsyncGenerator<StoredAuditEvent[]>;
}

/**
 * Opens the stored log read-only inside one snapshot. The head file must be read before this is
 * called: the broker writes it only after a commit, so a head read first can never be ahead of
 * the snapshot, while one read afterwards could be and would look like a truncation.
 */
export async function withLogSnapshot<T>(opts: StoredLogOptions, fn: (s: LogSnapshot) => Promise<T>): Promise<T> {
  if (opts.databaseUrl) return withPostgresSnapshot(opts, fn);
  const file = path.join(opts.dataDir, 'chaperone.sqlite');
  if (!fs.existsSync(file)) throw new Error(`no audit database at ${file}`);
  // Our own read-only connection rather than openStorage: it must not migrate or create
  // anything, and raw rows from its iterator cost about 40% less CPU than Kysely pages.
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('BEGIN');
    try {
      return await fn(sqliteSnapshot(db));
    } finally {
      db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}

function sqliteSnapshot(db: BetterSqlite3.Database): LogSnapshot {
  const cps = db.prepare('SELECT seq, hash, ts, kid, sig FROM audit_checkpoints WHERE seq > ? ORDER BY seq');
  // Keyset pages through all() rather than one iterate(): the iterator crosses into C++ once per
  // row and cost more than the hashing. Pages stay small so events die young (see SQLITE_CHUNK).
  const page = db.prepare(`SELECT ${EVENT_COLUMNS.join(', ')} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ${SQLITE_CHUNK}`).raw(true);
  return {
    checkpoints: async (afterSeq) => cps.all(afterSeq) as AuditCheckpoint[],
    async *events(afterSeq) {
      let after = afterSeq;
      for (;;) {
        const rows = page.all(after) as unknown[][];
        if (rows.length === 0) return;
        yield rows.map((r) => rowToEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]));
        after = rows[rows.length - 1]![0] as number;
        if (rows.length < SQLITE_CHUNK) return;
      }
    },
  };
}

async function withPostgresSnapshot<T>(opts: StoredLogOptions, fn: (s: LogSnapshot) => Promise<T>): Promise<T> {
  const storage = await openStorage({ dataDir: opts.dataDir, databaseUrl: opts.databaseUrl, pgSchema: opts.pgSchema, poolSize: 1 });
  try {
    // REPEATABLE READ gives one snapshot for the checkpoints and every page of events, so a
    // broker appending meanwhile cannot make the newest events look unsigned.
    return await storage.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) =>
        fn({
          checkpoints: async (afterSeq) =>
            (await trx.selectFrom('audit_checkpoints').select(['seq', 'hash', 'ts', 'kid', 'sig']).where('seq', '>', afterSeq).orderBy('seq').execute()).map((c) => ({
              ...c,
              seq: Number(c.seq),
              ts: Number(c.ts),
            })),
          async *events(afterSeq) {
            let after = afterSeq;
            for (;;) {
              const rows = await trx.selectFrom('audit_events').select(EVENT_COLUMNS).where('seq', '>', after).orderBy('seq').limit(PAGE).execute();
              if (rows.length === 0) return;
              yield rows.map((r) => rowToEvent(r.seq, r.id, r.ts, r.type, r.outcome, r.actor, r.session_id, r.ticket, r.source, r.meta, r.prev_hash, r.hash));
              after = Number(rows[rows.length - 1]!.seq);
              if (rows.length < PAGE) return;
            }
          },
        }),
      );
  } finally {
    await storage.close();
  }
}

/**
 * Values are taken as stored, without validation: whatever a tamperer wrote either hashes to the
 * stored hash or is reported, so checking types here would only slow the hot loop down.
 */
function rowToEvent(
  seq: unknown,
  id: unknown,
  ts: unknown,
  type: unknown,
  outcome: unknown,
  actor: unknown,
  session_id: unknown,
  ticket: unknown,
  source: unknown,
  meta: unknown,
  prev_hash: unknown,
  hash: unknown,
): StoredAuditEvent {
  return {
    seq: typeof seq === 'string' ? Number(seq) : (seq as number),
    id: id as string,
    ts: typeof ts === 'string' ? Number(ts) : (ts as number),
    type: type as string,
    outcome: outcome as AuditOutcome,
    actor: actor as string,
    session_id: session_id as string | null,
    ticket: ticket as string | null,
    source: source as string | null,
    meta_text: typeof meta === 'string' ? meta : String(meta),
    prev_hash: prev_hash as string,
    hash: hash as string,
  };
}

const EMPTY_META = '{}';

/** The stored meta as an object (for export); the chain check hashes the text itself. */
export function parseMeta(text: unknown): AuditMeta {
  // '{}' is the most common meta by far; it needs no parser.
  if (text === EMPTY_META) return {};
  try {
    return JSON.parse(text as string) as AuditMeta;
  } catch {
    // Unparseable meta can only come from tampering; this value cannot hash to the stored hash.
    return { __unparseable_meta__: String(text) };
  }
}

/** The data dir's key ring, or null when it has no keys (KeyRing.load would mint one: a reader must not). */
export function loadKeyRingIfAny(dataDir: string): KeyRing | null {
  const dir = path.join(dataDir, 'keys');
  const has = fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.json'));
  return has ? KeyRing.load(dataDir, 0).ring : null;
}

