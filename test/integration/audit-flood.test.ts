import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';

/**
 * A flood of refusals is not a flood of records: every refusal kind is throttled (a burst of 10,
 * then one record per second per socket, or per source for callers without an identity), and the
 * records say how many refusals they stand for, so none is lost from the count.
 */
async function refusals(b: TestBroker, type: string, since: number): Promise<{ records: number; total: number; withCount: number }> {
  await b.ctx.audit.flush();
  const rows = await b.ctx.storage.db.selectFrom('audit_events').select('meta').where('type', '=', type).where('seq', '>', since).execute();
  const metas = rows.map((r) => JSON.parse(r.meta) as { suppressed?: number });
  return { records: rows.length, total: metas.reduce((n, m) => n + 1 + (m.suppressed ?? 0), 0), withCount: metas.filter((m) => (m.suppressed ?? 0) > 0).length };
}

async function headSeq(b: TestBroker): Promise<number> {
  await b.ctx.audit.flush();
  const r = await b.ctx.storage.db.selectFrom('audit_events').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return Number(r?.seq ?? 0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The most records a throttled key may write for a flood that took `ms` to arrive: the burst of
 * 10, one per second after it, and one summary. A loaded machine stretches the flood over more
 * seconds, so the bound follows the time it really took instead of a count fixed for a fast one.
 */
function throttleBound(ms: number): number {
  return 10 + Math.ceil(ms / 1000) + 1;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

describe('refusal floods are throttled in the audit, every refusal still counted', () => {
  let b: TestBroker;
  let analyst: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  it('300 grant.response frames from the analyst in 3 s: a handful of records that count all 300', async () => {
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    const since = await headSeq(b);
    const ms = await timed(async () => {
      for (let i = 0; i < 30; i++) {
        for (let j = 0; j < 10; j++) an.sendJson({ type: 'grant.response', request_id: `r${i}-${j}`, capability: 'control', allow: true });
        await sleep(100);
      }
      await sleep(300);
    });
    expect(an.frames.filter((f) => f.type === 'error').length).toBe(300);
    const r = await refusals(b, 'signaling.frame_refused', since);
    expect(r.records).toBeLessThanOrEqual(throttleBound(ms));
    expect(r.records).toBeLessThan(60);
    expect(r.total).toBe(300);
    expect(r.withCount).toBeGreaterThan(0);
    eu.close();
    an.close();
  });

  it('an unauthenticated socket sending 10,000 frames: about a burst of records', async () => {
    const since = await headSeq(b);
    const c = await SignalingClient.open(b.url);
    await c.nextOfType('challenge');
    c.sendBurst(Array.from({ length: 10_000 }, () => ({ type: 'heartbeat' })));
    expect(await c.closed()).toBe(4001);
    // The first frame closes it (4001); those that arrived with it were dropped for the rate
    // limit on the way in, and what was still queued is dropped unread.
    const r = await refusals(b, 'signaling.frame_refused', since);
    expect(r.records).toBeLessThanOrEqual(12);
  });

  it('60 unauthenticated sockets from one source, one bad frame each: throttled as one source', async () => {
    const since = await headSeq(b);
    const socks = await Promise.all(Array.from({ length: 60 }, () => SignalingClient.open(b.url)));
    const ms = await timed(async () => {
      for (const c of socks) c.sendJson({ type: 'heartbeat' });
      await Promise.all(socks.map((c) => c.closed()));
    });
    const r = await refusals(b, 'signaling.frame_refused', since);
    expect(r.records).toBeLessThanOrEqual(throttleBound(ms));
    expect(r.records).toBeLessThan(60);
    expect(r.total).toBe(60);
  });

  it('300 anonymous probes of unknown paths: a handful of records that count all 300', async () => {
    const since = await headSeq(b);
    const ms = await timed(() => Promise.all(Array.from({ length: 300 }, (_, i) => fetch(`${b.url}/api/v1/admin/probe-${i}`))));
    const r = await refusals(b, 'http.not_found', since);
    expect(r.records).toBeLessThanOrEqual(throttleBound(ms));
    expect(r.records).toBeLessThan(60);
    expect(r.total).toBe(300);
  });

  it('anonymous refusals over HTTP are grouped by source: requests without a proof, wrong join codes with fresh keys', async () => {
    const since = await headSeq(b);
    const ms = await timed(() => Promise.all(Array.from({ length: 100 }, () => new ApiClient(b.url).call('POST', '/api/v1/join', { code: 'ZZZZZ-ZZZZZ' }, { proof: false }))));
    const noProof = await refusals(b, 'auth.request_rejected', since);
    expect(noProof.records).toBeLessThanOrEqual(throttleBound(ms));
    expect(noProof.total).toBe(100);
    const joinMs = await timed(() => Promise.all(Array.from({ length: 100 }, () => new ApiClient(b.url, new DeviceKey()).post('/api/v1/join', { code: 'ZZZZZ-ZZZZZ' }))));
    const failed = await refusals(b, 'join.redeem_failed', since);
    const limited = await refusals(b, 'join.rate_limited', since);
    expect(failed.total + limited.total).toBe(100);
    expect(failed.records + limited.records).toBeLessThanOrEqual(2 * throttleBound(joinMs));
  });

  it('a guessing run leaves no device rows: a device is remembered once it has redeemed a code', async () => {
    const before = (await b.ctx.storage.db.selectFrom('devices').select('jkt').execute()).length;
    const g = await startTestBroker('sqlite', { file: { rate_limits: { join_failures_per_source: 1000 } as never } });
    try {
      const start = (await g.ctx.storage.db.selectFrom('devices').select('jkt').execute()).length;
      await Promise.all(Array.from({ length: 40 }, () => new ApiClient(g.url, new DeviceKey()).post('/api/v1/join', { code: 'ZZZZZ-ZZZZZ' })));
      expect((await g.ctx.storage.db.selectFrom('devices').select('jkt').execute()).length).toBe(start);
      const alice = await createUser(g, 'alice', ['analyst']);
      const s = await activeSession(g, alice);
      const row = await g.ctx.storage.db.selectFrom('devices').select('jkt').where('jkt', '=', await s.endUser.device.jkt()).executeTakeFirst();
      expect(row).toBeDefined();
    } finally {
      await g.destroy();
    }
    expect(before).toBeGreaterThan(0);
  });
});
