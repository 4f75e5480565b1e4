import { SqliteDialect, SqliteDriver, type DatabaseConnection, type DialectAdapter, type Driver, type QueryResult, type SqliteDatabase, type SqliteDialectConfig } from 'kysely';

/**
 * Runs a compiled statement on SQLite's one connection at once, when no transaction or other
 * query holds it, instead of through Kysely's executor (a connection mutex, a provider and
 * several promises per statement, about a tenth of what the per-request statements cost). The
 * result is the one Kysely's SQLite driver builds. When the connection is held, the caller goes
 * the usual way and waits its turn, so nothing ever runs inside another caller's transaction.
 */
export interface SqliteRunNow {
  /** The result, or null when the connection is held and the statement must queue. */
  tryRun(sql: string, parameters: readonly unknown[]): QueryResult<unknown> | null;
}

const byAdapter = new WeakMap<DialectAdapter, SqliteRunNow>();

/** For a Kysely instance (or one of its transactions: they share the adapter) on this dialect. */
export function sqliteRunNow(adapter: DialectAdapter): SqliteRunNow | undefined {
  return byAdapter.get(adapter);
}

/** Kysely's SQLite driver, with whether its connection is handed out (a transaction or a query) in view. */
class TrackedSqliteDriver extends SqliteDriver implements Driver {
  held = false;
  override async acquireConnection(): Promise<DatabaseConnection> {
    const c = await super.acquireConnection();
    this.held = true;
    return c;
  }
  override async releaseConnection(): Promise<void> {
    this.held = false;
    await super.releaseConnection();
  }
}

export class TrackedSqliteDialect extends SqliteDialect {
  private readonly driver: TrackedSqliteDriver;
  constructor(private readonly database: SqliteDatabase) {
    const config: SqliteDialectConfig = { database };
    super(config);
    this.driver = new TrackedSqliteDriver(config);
  }
  override createDriver(): Driver {
    return this.driver;
  }
  override createAdapter(): DialectAdapter {
    const adapter = super.createAdapter();
    const driver = this.driver;
    const db = this.database;
    byAdapter.set(adapter, {
      tryRun(sql, parameters) {
        if (driver.held) return null;
        const stmt = db.prepare(sql);
        if (stmt.reader) return { rows: stmt.all(parameters) };
        const { changes, lastInsertRowid } = stmt.run(parameters);
        return {
          numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
          insertId: lastInsertRowid !== undefined && lastInsertRowid !== null ? BigInt(lastInsertRowid) : undefined,
          rows: [],
        };
      },
    });
    return adapter;
  }
}
