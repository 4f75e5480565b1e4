import { sql, type Kysely } from 'kysely';
import { prepared } from './prepared.js';
import type { Database } from './schema.js';

/**
 * The counters and replay caches the broker shares between requests, instances and restarts,
 * behind one small port: the SQL implementation below keeps them in the broker's database (so
 * several brokers on one PostgreSQL share them, and a restart forgets nothing); issue 15 can add
 * one on Redis. Every operation is one atomic statement: a count is taken before the thing it
 * limits is evaluated, so requests arriving together cannot all pass a check made before any of
 * them was counted.
 */
export interface LimitStore {
  /**
   * Adds one to `key` in its fixed window of `windowMs` (a window that has ended starts again at
   * 1) and returns the count including this one, with when the window ends.
   */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>;
  /** Takes one hit back (an attempt that turned out to be fine). */
  refund(key: string, now: number): Promise<void>;
  /** The count in the current window, without adding. */
  peek(key: string, now: number): Promise<number>;
  /** Keeps `key` set until `until` (a later time replaces an earlier one; an earlier one does not shorten it). */
  holdUntil(key: string, until: number, now: number): Promise<void>;
  /** Until when `key` is held, or null when it is not (or no longer). */
  heldUntil(key: string, now: number): Promise<number | null>;
  /** True the first time `id` is claimed, false while an earlier claim of it has not expired. */
  claimOnce(id: string, expiresAt: number, now: number): Promise<boolean>;
}

// The three statements behind every request's limits and proof ids, compiled once (storage/prepared.ts).
// SET expressions read the row as it was, on both engines: a finished window restarts at 1.
const hitCounter = prepared<{ key: string; end: number; now: number }, { hits: number; window_end: number }>(
  (_db, p) => sql<{ hits: number; window_end: number }>`
      INSERT INTO limit_counters (name, hits, window_end) VALUES (${p('key')}, 1, ${p('end')})
      ON CONFLICT (name) DO UPDATE SET
        hits = CASE WHEN limit_counters.window_end <= ${p('now')} THEN 1 ELSE limit_counters.hits + 1 END,
        window_end = CASE WHEN limit_counters.window_end <= ${p('now')} THEN ${p('end')} ELSE limit_counters.window_end END
      RETURNING hits, window_end`,
);
const refundCounter = prepared<{ key: string; now: number }, never>((_db, p) => sql<never>`UPDATE limit_counters SET hits = hits - 1 WHERE name = ${p('key')} AND window_end > ${p('now')} AND hits > 0`);
// A claim that has expired may be taken again; a live one may not.
const claimId = prepared<{ id: string; expiresAt: number; now: number }, { id: string }>(
  (_db, p) => sql<{ id: string }>`
      INSERT INTO replay_ids (id, expires_at) VALUES (${p('id')}, ${p('expiresAt')})
      ON CONFLICT (id) DO UPDATE SET expires_at = ${p('expiresAt')} WHERE replay_ids.expires_at <= ${p('now')}
      RETURNING id`,
);

/** How many operations pass between two sweeps of expired rows. */
const SWEEP_EVERY = 1000;

export class SqlLimitStore implements LimitStore {
  private ops = 0;

  constructor(private readonly db: Kysely<Database>) {}

  async hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }> {
    this.maybeSweep(now);
    const end = now + windowMs;
    const row = (await hitCounter.first(this.db, { key, end, now }))!;
    return { count: Number(row.hits), resetAt: Number(row.window_end) };
  }

  async refund(key: string, now: number): Promise<void> {
    await refundCounter.run(this.db, { key, now });
  }

  async peek(key: string, now: number): Promise<number> {
    const r = await this.db.selectFrom('limit_counters').select('hits').where('name', '=', key).where('window_end', '>', now).executeTakeFirst();
    return r ? Number(r.hits) : 0;
  }

  async holdUntil(key: string, until: number, now: number): Promise<void> {
    this.maybeSweep(now);
    await sql`
      INSERT INTO limit_counters (name, hits, window_end) VALUES (${key}, 1, ${until})
      ON CONFLICT (name) DO UPDATE SET window_end = CASE WHEN limit_counters.window_end < ${until} THEN ${until} ELSE limit_counters.window_end END`.execute(this.db);
  }

  async heldUntil(key: string, now: number): Promise<number | null> {
    const r = await this.db.selectFrom('limit_counters').select('window_end').where('name', '=', key).where('window_end', '>', now).executeTakeFirst();
    return r ? Number(r.window_end) : null;
  }

  async claimOnce(id: string, expiresAt: number, now: number): Promise<boolean> {
    this.maybeSweep(now);
    return (await claimId.all(this.db, { id, expiresAt, now })).length === 1;
  }

  private maybeSweep(now: number): void {
    if (++this.ops % SWEEP_EVERY !== 0) return;
    void (async () => {
      await this.db.deleteFrom('limit_counters').where('window_end', '<=', now).execute();
      await this.db.deleteFrom('replay_ids').where('expires_at', '<=', now).execute();
    })().catch(() => undefined);
  }
}
