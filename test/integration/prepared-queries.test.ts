import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../kit/broker.js';
import type { Storage } from '../../broker/storage/db.js';
import { storageFor } from '../helpers/engine-storage.js';
import { prepared } from '../../broker/storage/prepared.js';
import { SqlLimitStore } from '../../broker/storage/limits.js';

const byId = prepared<{ id: string }, { id: string; expires_at: number }>((db, p) => db.selectFrom('replay_ids').selectAll().where('id', '=', p('id')));

describe.each(ENGINES)('queries compiled once, run with each call’s values (%s)', (engine) => {
  const storage = storageFor(engine, 'prepared');
  let s: Storage;
  beforeAll(() => {
    s = storage();
  });

  it('each call binds its own values, inside and outside a transaction', async () => {
    await s.db.insertInto('replay_ids').values([{ id: 'a', expires_at: 1 }, { id: 'b', expires_at: 2 }]).execute();
    expect(await byId.first(s.db, { id: 'a' })).toEqual({ id: 'a', expires_at: 1 });
    expect(await byId.first(s.db, { id: 'b' })).toEqual({ id: 'b', expires_at: 2 });
    expect(await byId.first(s.db, { id: "a' OR '1'='1" })).toBeUndefined();
    await s.db.transaction().execute(async (trx) => {
      await trx.insertInto('replay_ids').values({ id: 'c', expires_at: 3 }).execute();
      expect(await byId.first(trx, { id: 'c' })).toEqual({ id: 'c', expires_at: 3 });
    });
  });

  it('a statement issued while a transaction holds the connection waits for it: it is neither inside that transaction nor undone with it', async () => {
    const insert = prepared<{ id: string }, never>((db, p) => db.insertInto('replay_ids').values({ id: p('id'), expires_at: 9 }));
    let outside: Promise<unknown> | null = null;
    const failed = s.db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('replay_ids').values({ id: 'in-rolled-back', expires_at: 9 }).execute();
        outside = insert.run(s.db, { id: 'outside-while-held' });
        await new Promise((r) => setTimeout(r, 50));
        // SQLite has one connection: the statement has not run yet, it waits for it. (PostgreSQL
        // ran it on another connection of the pool, outside this transaction all the same.)
        if (engine === 'sqlite') expect(await byId.first(trx, { id: 'outside-while-held' })).toBeUndefined();
        throw new Error('roll back');
      })
      .catch((e: Error) => e.message);
    expect(await failed).toBe('roll back');
    await outside;
    expect(await byId.first(s.db, { id: 'in-rolled-back' })).toBeUndefined();
    expect(await byId.first(s.db, { id: 'outside-while-held' })).toEqual({ id: 'outside-while-held', expires_at: 9 });
  });

  it('a proof id is claimed once across calls; a counter counts and refunds', async () => {
    const limits = new SqlLimitStore(s.db);
    expect(await limits.claimOnce('dpop:x', 2_000, 1_000)).toBe(true);
    expect(await limits.claimOnce('dpop:x', 2_000, 1_500)).toBe(false);
    expect(await limits.claimOnce('dpop:y', 2_000, 1_500)).toBe(true);
    expect(await limits.claimOnce('dpop:x', 4_000, 2_000)).toBe(true);
    expect((await limits.hit('k', 1_000, 10_000)).count).toBe(1);
    expect(await limits.hit('k', 1_000, 10_100)).toEqual({ count: 2, resetAt: 11_000 });
    await limits.refund('k', 10_200);
    expect(await limits.peek('k', 10_300)).toBe(1);
    expect(await limits.hit('k', 1_000, 11_000)).toEqual({ count: 1, resetAt: 12_000 });
  });

  it('a stand-in that would not be a bound value is refused, not run as text', async () => {
    const bad = prepared<{ t: string }, unknown>((_db, p) => sql`SELECT ${sql.raw(p('t'))} AS x`);
    await expect(bad.first(s.db, { t: '1' })).rejects.toThrow(/not a plain bound value/);
  });
});
