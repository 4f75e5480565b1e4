import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, requestSession } from '../../kit/lifecycle.js';

const SECRET = 'hook-secret-0123456789-abcdef';
const RETRY_DELAYS_S = [0.05, 0.05];

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  at: number;
}

/** A webhook receiver as an operator would run one: answers each POST with the next scripted status. */
class Receiver {
  readonly received: Received[] = [];
  /** Status per attempt; the last one repeats. */
  script: number[] = [200];
  private readonly server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      this.received.push({ headers: req.headers, raw, at: Date.now() });
      const status = this.script[Math.min(this.received.length - 1, this.script.length - 1)] ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
    });
  });
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/chaperone`;
    return this;
  }

  reset(script: number[]): void {
    this.received.length = 0;
    this.script = script;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** What a receiver must do before trusting a delivery. */
function verify(secret: string, r: Received): { ok: boolean; ts: number } {
  const ts = Number(r.headers['x-chaperone-timestamp']);
  const sig = r.headers['x-chaperone-signature'];
  const expected = `v1=${crypto.createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`;
  return { ok: typeof sig === 'string' && sig.length === expected.length && crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected)), ts };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function deliveryFor(b: TestBroker, sessionId: string) {
  const rows = await b.ctx.storage.db.selectFrom('hook_deliveries').selectAll().execute();
  return rows.find((d) => (JSON.parse(d.payload) as { data: { session_id: string } }).data.session_id === sessionId);
}

const sessionIdOf = (r: Received) => (JSON.parse(r.raw) as { data: { session_id: string } }).data.session_id;

describe.each(ENGINES)('post-session hooks on %s', (engine) => {
  let b: TestBroker;
  let rx: Receiver;
  let analyst: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    rx = await new Receiver().start();
    b = await startTestBroker(engine, { file: { hooks: [{ url: rx.url, secret: SECRET, events: ['session.ended'] }] }, hookRetryDelaysS: RETRY_DELAYS_S });
    analyst = await createUser(b, 'alice', ['analyst']);
    admin = await createUser(b, 'root', ['admin']);
  });
  afterEach(() => rx.reset([200]));
  afterAll(async () => {
    await b?.destroy();
    await rx?.stop();
  });

  it('ending a session POSTs a signed session.ended event to the hook', async () => {
    rx.reset([200]);
    const ticket = `INC-${crypto.randomInt(1e6)}`;
    const s = await activeSession(b, analyst, { ticket });
    const endedAt = Date.now();
    const end = await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {});
    expect(end.status).toBe(200);
    const got = await until('the hook delivery', () => rx.received.find((r) => sessionIdOf(r) === s.id));
    expect(got.headers['content-type']).toMatch(/^application\/json/);
    const sig = verify(SECRET, got);
    expect(sig.ok).toBe(true);
    expect(Math.abs(sig.ts - endedAt / 1000)).toBeLessThan(30);
    // The same bytes under another secret do not verify: the signature really is keyed.
    expect(verify('some-other-secret-0123456789', got).ok).toBe(false);
    const event = JSON.parse(got.raw);
    expect(event).toMatchObject({
      id: expect.any(String),
      type: 'session.ended',
      data: { session_id: s.id, reason: 'completed', ticket, analyst_id: analyst.id, capabilities: ['view', 'chat'] },
    });
    expect(typeof event.data.ended_at).toBe('number');
    expect(typeof event.data.started_at).toBe('number');
    expect(event.data.ended_at).toBeGreaterThanOrEqual(event.data.started_at);
    const d = await until('the delivery row to be delivered', async () => {
      const row = await deliveryFor(b, s.id);
      return row?.status === 'delivered' ? row : undefined;
    });
    expect(d.attempts).toBe(1);
    // Exactly one delivery per event and hook.
    await new Promise((r) => setTimeout(r, 200));
    expect(rx.received.filter((r) => sessionIdOf(r) === s.id)).toHaveLength(1);
  });

  it('the reason is the real one: a session that never started and is killed reports revoked', async () => {
    rx.reset([200]);
    const s = await requestSession(analyst, ['view']);
    const k = await admin.api.post(`/api/v1/sessions/${s.id}/kill`, {});
    expect(k.status).toBe(200);
    const got = await until('the hook delivery', () => rx.received.find((r) => sessionIdOf(r) === s.id));
    expect(verify(SECRET, got).ok).toBe(true);
    expect(JSON.parse(got.raw)).toMatchObject({ type: 'session.ended', data: { session_id: s.id, reason: 'revoked', started_at: null } });
  });

  it('a receiver that keeps failing gets every retry, then the delivery is listed as failed and audited', async () => {
    rx.reset([500]);
    const s = await activeSession(b, analyst);
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    const d = await until('the delivery to fail', async () => {
      const row = await deliveryFor(b, s.id);
      return row?.status === 'failed' ? row : undefined;
    });
    const attempts = rx.received.filter((r) => sessionIdOf(r) === s.id);
    // One attempt plus one retry per configured delay.
    expect(attempts).toHaveLength(1 + RETRY_DELAYS_S.length);
    expect(d.attempts).toBe(1 + RETRY_DELAYS_S.length);
    // Every attempt is signed afresh and carries the same event id, so a receiver can de-duplicate.
    for (const a of attempts) expect(verify(SECRET, a).ok).toBe(true);
    expect(new Set(attempts.map((a) => JSON.parse(a.raw).id)).size).toBe(1);
    // The retries waited (roughly) as configured.
    for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.at - attempts[i - 1]!.at).toBeGreaterThanOrEqual(40);

    const list = await admin.api.get(`/api/v1/admin/hook-deliveries?status=failed`);
    expect(list.status).toBe(200);
    const listed = (list.body.deliveries as { id: string; status: string; attempts: number; last_error: string; url: string; event_type: string }[]).find((x) => x.id === d.id);
    expect(listed).toMatchObject({ status: 'failed', attempts: 3, last_error: 'HTTP 500', url: rx.url, event_type: 'session.ended' });
    expect((list.body.deliveries as { status: string }[]).every((x) => x.status === 'failed')).toBe(true);
    // Delivered ones are not in the failed list.
    const delivered = await admin.api.get(`/api/v1/admin/hook-deliveries?status=delivered`);
    expect((delivered.body.deliveries as { id: string }[]).some((x) => x.id === d.id)).toBe(false);

    await b.ctx.audit.flush();
    const audit = await b.ctx.storage.db.selectFrom('audit_events').selectAll().where('type', '=', 'hook.delivery_failed').execute();
    const mine = audit.map((e) => JSON.parse(e.meta) as Record<string, unknown>).filter((m) => m.delivery_id === d.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ event_type: 'session.ended', attempts: 3, error: 'HTTP 500', url_host: new URL(rx.url).host });

    // Operators can alert on it.
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    const failures = /^chaperone_hook_delivery_failures_total\{event="session\.ended"\} (\d+)$/m.exec(metrics);
    expect(Number(failures?.[1])).toBeGreaterThanOrEqual(3);

    // After the last retry nothing more is sent.
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.received.filter((r) => sessionIdOf(r) === s.id)).toHaveLength(3);
  });

  it('only admins can list deliveries', async () => {
    const list = await analyst.api.get(`/api/v1/admin/hook-deliveries?status=failed`);
    expect(list.status).toBe(403);
    expect(list.body.error.code).toBe('forbidden');
  });

  it('a receiver that fails once and then answers ends up delivered', async () => {
    rx.reset([503, 200]);
    const s = await activeSession(b, analyst);
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    const d = await until('the delivery to succeed', async () => {
      const row = await deliveryFor(b, s.id);
      return row?.status === 'delivered' ? row : undefined;
    });
    expect(d.attempts).toBe(2);
    expect(d.last_error).toBeNull();
    expect(rx.received.filter((r) => sessionIdOf(r) === s.id)).toHaveLength(2);
    const list = await admin.api.get(`/api/v1/admin/hook-deliveries?status=delivered`);
    expect((list.body.deliveries as { id: string; attempts: number }[]).find((x) => x.id === d.id)).toMatchObject({ attempts: 2, status: 'delivered' });
    const failed = await admin.api.get(`/api/v1/admin/hook-deliveries?status=failed`);
    expect((failed.body.deliveries as { id: string }[]).some((x) => x.id === d.id)).toBe(false);
  });

  it('a redirect is not followed and counts as a failed attempt', async () => {
    rx.reset([302, 200]);
    const s = await activeSession(b, analyst);
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    const d = await until('the delivery to succeed', async () => {
      const row = await deliveryFor(b, s.id);
      return row?.status === 'delivered' ? row : undefined;
    });
    expect(d.attempts).toBe(2);
  });
});

describe('post-session hooks survive a broker restart', () => {
  let b: TestBroker;
  let rx: Receiver;

  beforeAll(async () => {
    rx = await new Receiver().start();
  });
  afterAll(async () => {
    await b?.destroy();
    await rx?.stop();
  });

  it('a delivery waiting for its retry when the broker stops is sent after it starts again', async () => {
    rx.reset([500, 200]);
    const hooks = { hooks: [{ url: rx.url, secret: SECRET, events: ['session.ended'] }] };
    b = await startTestBroker('sqlite', { file: hooks, hookRetryDelaysS: [1, 1] });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst);
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    await until('the first attempt', () => rx.received.length >= 1);
    await until('the retry to be scheduled', async () => (await deliveryFor(b, s.id))?.attempts === 1);
    b = await b.restart();
    const d = await until('the delivery after restart', async () => {
      const row = await deliveryFor(b, s.id);
      return row?.status === 'delivered' ? row : undefined;
    });
    expect(d.attempts).toBe(2);
    expect(rx.received).toHaveLength(2);
    expect(verify(SECRET, rx.received[1]!).ok).toBe(true);
    expect(JSON.parse(rx.received[1]!.raw).id).toBe(JSON.parse(rx.received[0]!.raw).id);
  });
});
