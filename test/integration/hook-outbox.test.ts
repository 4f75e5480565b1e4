import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';

const SECRET = 'hook-secret-0123456789-abcdef';

/** Makes every insert into the hook outbox fail, as a crash at that moment would leave it. */
async function breakOutbox(b: TestBroker): Promise<() => Promise<void>> {
  const db = b.ctx.storage.db;
  if (b.engine === 'sqlite') {
    await sql`CREATE TRIGGER outbox_down BEFORE INSERT ON hook_deliveries BEGIN SELECT RAISE(ABORT, 'the outbox is down'); END`.execute(db);
    return async () => void (await sql`DROP TRIGGER outbox_down`.execute(db));
  }
  await sql`CREATE FUNCTION outbox_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'the outbox is down'; END $$ LANGUAGE plpgsql`.execute(db);
  await sql`CREATE TRIGGER outbox_down BEFORE INSERT ON hook_deliveries FOR EACH ROW EXECUTE FUNCTION outbox_down()`.execute(db);
  return async () => {
    await sql`DROP TRIGGER outbox_down ON hook_deliveries`.execute(db);
    await sql`DROP FUNCTION outbox_down()`.execute(db);
  };
}

async function endedWithoutHook(b: TestBroker): Promise<string[]> {
  const ended = await b.ctx.storage.db.selectFrom('sessions').select('id').where('state', '=', 'ended').execute();
  const hooks = await b.ctx.storage.db.selectFrom('hook_deliveries').select('payload').execute();
  const hooked = new Set(hooks.map((h) => (JSON.parse(h.payload) as { data: { session_id: string } }).data.session_id));
  return ended.map((r) => r.id).filter((id) => !hooked.has(id));
}

/**
 * The post-session hook is written in the same transaction as the session's end (an outbox row,
 * delivered from there): there is no moment at which the end is stored and its hook is not.
 */
describe.each(ENGINES)('the post-session hook is in the same commit as the end (%s)', (engine) => {
  let b: TestBroker | null = null;
  afterEach(async () => {
    await b?.destroy();
    b = null;
  });

  it('when the hook cannot be written, the end is not written either; once it can, both are', async () => {
    // A receiver that never answers: what matters here is the outbox row, not the delivery.
    b = await startTestBroker(engine, { file: { hooks: [{ url: 'http://127.0.0.1:9/never', secret: SECRET, events: ['session.ended'] }] } as never });
    const alice = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, alice);
    const repair = await breakOutbox(b);
    const failed = await alice.api.post(`/api/v1/sessions/${s.id}/end`, {});
    expect(failed.status).toBe(500);
    expect(await endedWithoutHook(b)).toEqual([]);
    expect((await b.ctx.storage.db.selectFrom('sessions').select('state').where('id', '=', s.id).executeTakeFirstOrThrow()).state).toBe('active');
    await repair();
    expect((await alice.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    expect(await endedWithoutHook(b)).toEqual([]);
    const tokens = await b.ctx.storage.db.selectFrom('session_tokens').select('revoked_at').where('session_id', '=', s.id).execute();
    expect(tokens.every((t) => t.revoked_at !== null)).toBe(true);
  });
});

describe('hook URLs', () => {
  it('http:// is refused at start unless it is loopback, with a message saying so', async () => {
    for (const url of ['http://hooks.example.com/chaperone', 'http://10.0.0.5/h', 'http://[2001:db8::1]/h']) {
      await expect(startTestBroker('sqlite', { file: { hooks: [{ url, secret: SECRET, events: ['session.ended'] }] } as never })).rejects.toThrow(/hooks\.0\.url .*https/);
    }
    for (const url of ['https://hooks.example.com/chaperone', 'http://127.0.0.1:8080/h', 'http://localhost/h', 'http://[::1]:9000/h']) {
      const ok = await startTestBroker('sqlite', { file: { hooks: [{ url, secret: SECRET, events: ['session.ended'] }] } as never });
      await ok.destroy();
    }
  });
});
