import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql, type SqliteDatabase } from 'kysely';
import { OwnSchemaPostgresDialect } from './pg-own-schema.js';
import pg from 'pg';
import type { Database } from './schema.js';
import { migrateToLatest } from './migrations.js';
import { TrackedSqliteDialect } from './sqlite-fast-path.js';

export type Engine = 'sqlite' | 'postgres';

export interface Storage {
  db: Kysely<Database>;
  engine: Engine;
  /**
   * Removes what updated or deleted rows left in free pages and the write-ahead log (SQLite:
   * VACUUM, then a truncating checkpoint; PostgreSQL: VACUUM of the accounts table, whose old row
   * versions it otherwise keeps until autovacuum). Run after secrets stored in clear were sealed.
   */
  purgeFreedPages(): Promise<void>;
  close(): Promise<void>;
}

// int8 columns hold millisecond times, well inside Number's exact range.
pg.types.setTypeParser(20, (v: string) => Number(v));

export interface OpenStorageOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  /** PostgreSQL schema to use (tests give each run its own). */
  pgSchema?: string | undefined;
  poolSize?: number;
}

/**
 * Kysely's SQLite driver prepares every query afresh, which cost about a tenth of the broker's CPU
 * per session lifecycle. The broker's queries are parameterised, so their texts are few and a
 * prepared statement can be reused. Bounded, because `in (?, ?, ...)` lists vary in length.
 * Safe on one connection: better-sqlite3 runs each statement to completion before returning, and
 * SQLite re-prepares a cached statement by itself after a schema change.
 */
export function withStatementCache(sqlite: BetterSqlite3.Database, max = 512): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare: (sql: string) => {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = sqlite.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
        cache.set(sql, stmt);
      }
      return stmt as unknown as ReturnType<SqliteDatabase['prepare']>;
    },
  };
}

/** How long a query waits for a PostgreSQL connection before it fails as database_unavailable. */
const PG_CONNECT_TIMEOUT_MS = 3000;

export async function openStorage(opts: OpenStorageOptions): Promise<Storage> {
  if (opts.databaseUrl) {
    const schema = opts.pgSchema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error('invalid PostgreSQL schema name');
    if (schema) {
      const admin = new pg.Client({ connectionString: opts.databaseUrl });
      await admin.connect();
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await admin.end();
    }
    // search_path set at connection start, so every pooled connection sees the same schema.
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      // A server that accepts no connection (down, or its host unreachable) is an error within
      // seconds, so a request is answered 503 instead of waiting for the balancer's timeout.
      connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // A connection cut by the server (restart, crash, failover) emits 'error': from the pool when
    // it was idle, from the client itself when it was checked out for a query at that moment. With
    // no listener Node ends the process; the query in flight already fails (503 to its caller), the
    // pool drops the connection and opens a new one on the next query, so the broker stays up, says
    // it is not ready, and recovers by itself.
    const lost = (err: Error & { code?: string }) => process.stderr.write(`PostgreSQL connection lost (${err.code ?? err.message}); the next query reconnects\n`);
    pool.on('error', lost);
    pool.on('connect', (client) => client.on('error', lost));
    const db = new Kysely<Database>({ dialect: new OwnSchemaPostgresDialect({ pool }) });
    await migrateToLatest(db, schema);
    return {
      db,
      engine: 'postgres',
      purgeFreedPages: async () => void (await sql`VACUUM accounts`.execute(db)),
      close: () => db.destroy(),
    };
  }
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(opts.dataDir, 'chaperone.sqlite');
  const sqlite = new BetterSqlite3(file);
  fs.chmodSync(file, 0o600);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL with WAL survives a process crash; only an OS crash can lose the last commits.
  sqlite.pragma('synchronous = NORMAL');
  // SQLite's default page cache is 2 MB; past that, every read of an older page is a read()
  // system call. 64 MB (an upper bound, taken only as pages are touched) keeps a busy broker's
  // working set (sessions, tokens, the audit tail, replay and limit keys) in memory.
  sqlite.pragma('cache_size = -65536');
  // A statement inside a transaction keeps a journal of the pages it changes, so it can be undone
  // alone; past 64 KiB SQLite spills that to a new file in /var/tmp (create, unlink, writes), which
  // the broker did every few lifecycles. In memory it is the same journal without the files.
  sqlite.pragma('temp_store = MEMORY');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new TrackedSqliteDialect(withStatementCache(sqlite)) });
  await migrateToLatest(db);
  return {
    db,
    engine: 'sqlite',
    purgeFreedPages: async () => {
      await sql`VACUUM`.execute(db);
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
    },
    close: () => db.destroy(),
  };
}
