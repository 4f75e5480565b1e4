import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, requestSession } from '../../kit/lifecycle.js';
import { HistoryPageSchema, type HistoryRow } from '../../common/protocol/history.js';

/**
 * Session history through the real route on both engines: an analyst reads only their own
 * sessions whatever they search for; approvers and auditors read everyone's; search, filters
 * and paging narrow and page without losing or repeating a row.
 */
describe.each(ENGINES)('session history, scoped by who asks, on %s', (engine) => {
  let b: TestBroker;
  let alice: TestUser;
  let olga: TestUser;
  let bob: TestUser;
  let audrey: TestUser;
  const ids: Record<string, string> = {};

  const history = async (u: TestUser, query = '') => {
    const res = await u.api.get(`/api/v1/sessions/history${query ? `?${query}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return HistoryPageSchema.parse(res.body);
  };
  const tickets = (rows: HistoryRow[]) => rows.map((r) => r.ticket).sort();

  beforeAll(async () => {
    b = await startTestBroker(engine);
    alice = await createUser(b, 'alice', ['analyst']);
    olga = await createUser(b, 'olga', ['analyst']);
    bob = await createUser(b, 'bob', ['approver']);
    audrey = await createUser(b, 'audrey', ['auditor']);
    // Alice: one that ran and she ended, one an approver rejected, one still waiting for approval.
    const ran = await activeSession(b, alice, { ticket: 'INC-100', caps: ['view', 'chat'] });
    ids.ran = ran.id;
    expect((await alice.api.post(`/api/v1/sessions/${ran.id}/end`, {})).status).toBe(200);
    const rejected = await requestSession(alice, ['view', 'control'], 'INC-101');
    expect((await bob.api.post(`/api/v1/sessions/${rejected.id}/reject`, { reason: 'not on a Friday' })).status).toBe(200);
    ids.rejected = rejected.id;
    ids.waiting = (await requestSession(alice, ['view', 'control'], 'INC-102')).id;
    // Olga's, whose reason has a wildcard character in it.
    const hers = await olga.api.post('/api/v1/sessions', { ticket: 'CHG-7', reason: 'disk 95% full_again', capabilities: ['view'], duration_minutes: 15 });
    expect(hers.status).toBe(200);
    ids.olga = hers.body.id;
  });
  afterAll(async () => b?.destroy());

  it("an analyst sees only their own sessions, and no filter or search reaches another's", async () => {
    expect(tickets((await history(alice)).sessions)).toEqual(['INC-100', 'INC-101', 'INC-102']);
    expect(tickets((await history(olga)).sessions)).toEqual(['CHG-7']);
    expect((await history(alice, 'analyst=olga')).sessions).toEqual([]);
    expect((await history(alice, 'q=olga')).sessions).toEqual([]);
    expect((await history(alice, 'q=CHG-7')).sessions).toEqual([]);
    // The single session route agrees: another analyst's session does not exist for her.
    expect((await alice.api.get(`/api/v1/sessions/${ids.olga}`)).status).toBe(404);
  });

  it('approvers and auditors see everyone; each row says who, when, how long, how it ended and what was granted', async () => {
    for (const u of [bob, audrey]) expect(tickets((await history(u)).sessions)).toEqual(['CHG-7', 'INC-100', 'INC-101', 'INC-102']);
    const rows = (await history(bob)).sessions;
    // Newest first.
    expect(rows.map((r) => r.ticket)).toEqual(['CHG-7', 'INC-102', 'INC-101', 'INC-100']);
    const ran = rows.find((r) => r.ticket === 'INC-100')!;
    expect(ran).toMatchObject({
      session_id: ids.ran,
      analyst: { username: 'alice', display_name: 'Alice Tester', organisation: 'Acme IT' },
      approver: null,
      state: 'ended',
      end_reason: 'completed',
      asked: ['view', 'chat'],
      granted: ['view', 'chat'],
      recording: null,
    });
    expect(ran.end_user_device).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(ran.started_at).not.toBeNull();
    expect(ran.duration_ms).toBe(ran.ended_at! - ran.started_at!);
    const rejected = rows.find((r) => r.ticket === 'INC-101')!;
    expect(rejected).toMatchObject({ end_reason: 'rejected', started_at: null, duration_ms: null, granted: [], end_user_device: null, asked: ['view', 'control'] });
    expect(rows.find((r) => r.ticket === 'INC-102')).toMatchObject({ state: 'awaiting_approval', end_reason: null, ended_at: null });
  });

  it('searches ticket, reason and analyst case-insensitively, with % and _ taken literally; filters by analyst, end and time', async () => {
    expect(tickets((await history(bob, 'q=inc-10')).sessions)).toEqual(['INC-100', 'INC-101', 'INC-102']);
    expect(tickets((await history(bob, 'q=PRINTER')).sessions)).toEqual(['INC-100', 'INC-101', 'INC-102']);
    expect(tickets((await history(bob, 'q=Olga%20Tester')).sessions)).toEqual(['CHG-7']);
    expect(tickets((await history(bob, `q=${encodeURIComponent('95%')}`)).sessions)).toEqual(['CHG-7']);
    // As wildcards these would match every row.
    expect((await history(bob, `q=${encodeURIComponent('%%')}`)).sessions).toEqual([]);
    expect(tickets((await history(bob, `q=${encodeURIComponent('full_a')}`)).sessions)).toEqual(['CHG-7']);
    expect((await history(bob, `q=${encodeURIComponent('ful_')}`)).sessions).toEqual([]);
    expect(tickets((await history(bob, 'analyst=alice')).sessions)).toEqual(['INC-100', 'INC-101', 'INC-102']);
    expect(tickets((await history(bob, 'ended=rejected')).sessions)).toEqual(['INC-101']);
    expect(tickets((await history(bob, 'ended=completed&analyst=alice')).sessions)).toEqual(['INC-100']);
    const all = (await history(bob)).sessions;
    const olgas = all.find((r) => r.ticket === 'CHG-7')!;
    expect(tickets((await history(bob, `from=${olgas.requested_at}`)).sessions)).toContain('CHG-7');
    expect(tickets((await history(bob, `to=${olgas.requested_at}`)).sessions)).not.toContain('CHG-7');
  });

  it('pages with a cursor: every row once, in order, and the last page says so', async () => {
    const first = await history(bob, 'limit=3');
    expect(first.sessions).toHaveLength(3);
    expect(first.next_before).not.toBeNull();
    const second = await history(bob, `limit=3&before=${encodeURIComponent(first.next_before!)}`);
    expect(second.next_before).toBeNull();
    expect([...first.sessions, ...second.sessions].map((r) => r.ticket)).toEqual(['CHG-7', 'INC-102', 'INC-101', 'INC-100']);
  });

  it('refuses bad input clearly and changes nothing', async () => {
    for (const q of ['before=yesterday', 'limit=1000', 'ended=exploded', 'q=', 'sneaky=1', `q=${'x'.repeat(65)}`]) {
      const res = await bob.api.get(`/api/v1/sessions/history?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.message, q).toEqual(expect.any(String));
    }
    expect((await history(bob)).sessions).toHaveLength(4);
  });
});
