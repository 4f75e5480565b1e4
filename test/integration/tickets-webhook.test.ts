import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, connectBoth, consentReceipt, redeem, requestSession } from '../../kit/lifecycle.js';

/** Signs a webhook body the way the ticketing system does (the scheme in broker/hooks/signature.ts, re-implemented here). */
function sign(secret: string, ts: number, body: string): string {
  return `v1=${crypto.createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;
}

interface Sent {
  status: number;
  body: any;
}

async function post(url: string, raw: string, headers: Record<string, string>): Promise<Sent> {
  const res = await fetch(`${url}/api/v1/webhooks/tickets`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, body };
}

/** A correctly signed delivery; `ts` in seconds (defaults to now). */
async function deliver(b: TestBroker, payload: { event_id?: string; ticket: string; status: 'open' | 'approved' | 'closed' }, ts = Math.floor(Date.now() / 1000)) {
  const raw = JSON.stringify({ event_id: payload.event_id ?? crypto.randomUUID(), ticket: payload.ticket, status: payload.status });
  const res = await post(b.url, raw, { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, ts, raw) });
  return { ...res, raw, ts };
}

async function ticketRow(b: TestBroker, ref: string) {
  return b.ctx.storage.db.selectFrom('tickets').selectAll().where('ref', '=', ref).executeTakeFirst();
}

async function auditEvents(b: TestBroker, type: string) {
  await b.ctx.audit.flush();
  const rows = await b.ctx.storage.db.selectFrom('audit_events').selectAll().where('type', '=', type).orderBy('seq').execute();
  return rows.map((r) => ({ ...r, meta: JSON.parse(r.meta) as Record<string, unknown> }));
}

const newTicket = () => `INC-${crypto.randomInt(1e9)}`;

describe.each(ENGINES)('inbound ticket webhook on %s', (engine) => {
  let b: TestBroker;
  let analyst: TestUser;
  let vendor: TestUser;

  beforeAll(async () => {
    b = await startTestBroker(engine);
    analyst = await createUser(b, 'alice', ['analyst']);
    vendor = await createUser(b, 'victor', ['analyst'], 'vendor', 'Vendor Ltd');
  });
  afterAll(async () => b?.destroy());

  it('a correctly signed delivery records the ticket status and is audited', async () => {
    const t = newTicket();
    const eventId = `evt-${crypto.randomUUID()}`;
    const r = await deliver(b, { event_id: eventId, ticket: t, status: 'approved' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ ticket: t, status: 'approved', ended_sessions: [] });
    expect(await ticketRow(b, t)).toMatchObject({ ref: t, status: 'approved' });

    const r2 = await deliver(b, { ticket: t, status: 'open' });
    expect(r2.status).toBe(200);
    expect(await ticketRow(b, t)).toMatchObject({ status: 'open' });

    const approved = (await auditEvents(b, 'ticket.approved')).filter((e) => e.ticket === t);
    expect(approved).toHaveLength(1);
    expect(approved[0]).toMatchObject({ outcome: 'success', actor: 'webhook:tickets' });
    expect(approved[0]!.meta).toMatchObject({ event_id: eventId });
  });

  it('closing a ticket ends its active session: both sides are told ticket_closed and disconnected', async () => {
    const t = newTicket();
    const s = await activeSession(b, analyst, { ticket: t });
    const { eu, an } = await connectBoth(b, analyst, s);
    const r = await deliver(b, { ticket: t, status: 'closed' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.ended_sessions).toEqual([s.id]);
    expect((await eu.nextOfType('session.ended')).reason).toBe('ticket_closed');
    expect((await an.nextOfType('session.ended')).reason).toBe('ticket_closed');
    expect(await eu.closed()).toBe(4000);
    expect(await an.closed()).toBe(4000);
    const v = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    expect(v.body).toMatchObject({ state: 'ended', end_reason: 'ticket_closed' });
    expect(await ticketRow(b, t)).toMatchObject({ status: 'closed' });
    // The session tokens are revoked with it: reconnecting fails.
    const { SignalingClient } = await import('../../kit/signaling-client.js');
    await expect(SignalingClient.connect(b.url, s.endUserToken, s.endUser.device)).rejects.toThrow();
    const ended = (await auditEvents(b, 'session.ended')).filter((e) => e.session_id === s.id);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ actor: 'webhook:tickets', ticket: t });
    expect(ended[0]!.meta).toMatchObject({ reason: 'ticket_closed', from: 'active' });
  });

  it('closing a ticket also ends sessions that have not started yet (awaiting approval, pending consent)', async () => {
    const t = newTicket();
    const waiting = await requestSession(vendor, ['view'], t);
    expect(waiting.state).toBe('awaiting_approval');
    const pending = await requestSession(analyst, ['view', 'chat'], t);
    const c = await analyst.api.post(`/api/v1/sessions/${pending.id}/code`, {});
    expect(c.status).toBe(200);
    const { api: endUser, res } = await redeem(b, c.body.code_display);
    expect(res.status).toBe(200);
    expect((await analyst.api.get(`/api/v1/sessions/${pending.id}`)).body.state).toBe('pending_consent');
    // A session on another ticket is not touched.
    const other = await requestSession(analyst, ['view'], newTicket());

    const r = await deliver(b, { ticket: t, status: 'closed' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect([...(r.body.ended_sessions as string[])].sort()).toEqual([waiting.id, pending.id].sort());
    expect((await vendor.api.get(`/api/v1/sessions/${waiting.id}`)).body).toMatchObject({ state: 'ended', end_reason: 'ticket_closed' });
    expect((await analyst.api.get(`/api/v1/sessions/${pending.id}`)).body).toMatchObject({ state: 'ended', end_reason: 'ticket_closed' });
    expect((await analyst.api.get(`/api/v1/sessions/${other.id}`)).body.state).toBe('approved');

    // The end user who was about to consent can no longer start the session.
    const receipt = await consentReceipt(endUser.device, pending.id, res.body.offer);
    const late = await endUser.post('/api/v1/join/consent', { session_id: pending.id, receipt });
    expect(late.status).toBe(409);
    expect((await analyst.api.get(`/api/v1/sessions/${pending.id}`)).body.state).toBe('ended');
  });

  it('a bad signature is refused with 401 and changes nothing', async () => {
    const t = newTicket();
    expect((await deliver(b, { ticket: t, status: 'open' })).status).toBe(200);
    const s = await requestSession(analyst, ['view'], t);
    const ts = Math.floor(Date.now() / 1000);
    const raw = JSON.stringify({ event_id: crypto.randomUUID(), ticket: t, status: 'closed' });
    const before = (await auditEvents(b, 'ticket.webhook_rejected')).length;

    const wrongKey = await post(b.url, raw, { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sign('not-the-shared-secret-at-all', ts, raw) });
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body).toEqual({ error: { code: 'bad_webhook_signature', message: expect.any(String) } });
    const noSig = await post(b.url, raw, { 'x-chaperone-timestamp': String(ts) });
    expect(noSig.status).toBe(401);
    const noTs = await post(b.url, raw, { 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, ts, raw) });
    expect(noTs.status).toBe(401);

    expect(await ticketRow(b, t)).toMatchObject({ status: 'open' });
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('approved');
    const rejected = (await auditEvents(b, 'ticket.webhook_rejected')).slice(before);
    expect(rejected).toHaveLength(3);
    expect(rejected.map((e) => e.outcome)).toEqual(['denied', 'denied', 'denied']);
    expect(rejected[0]!.meta).toMatchObject({ why: 'bad signature' });
    expect(rejected.some((e) => e.type !== 'ticket.webhook_rejected')).toBe(false);
    expect((await auditEvents(b, 'ticket.closed')).some((e) => e.ticket === t)).toBe(false);
  });

  it('a timestamp more than 300 s old (or ahead) is refused even with a valid signature', async () => {
    const t = newTicket();
    const now = Math.floor(Date.now() / 1000);
    const before = (await auditEvents(b, 'ticket.webhook_rejected')).length;
    const old = await deliver(b, { ticket: t, status: 'open' }, now - 301);
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe('bad_webhook_signature');
    expect(old.body.error.message).toMatch(/stale/);
    const future = await deliver(b, { ticket: t, status: 'open' }, now + 400);
    expect(future.status).toBe(401);
    expect(await ticketRow(b, t)).toBeUndefined();
    // Within the window it is fine.
    const recent = await deliver(b, { ticket: t, status: 'open' }, now - 200);
    expect(recent.status).toBe(200);
    const rejected = (await auditEvents(b, 'ticket.webhook_rejected')).slice(before);
    expect(rejected.map((e) => e.meta.why)).toEqual(['stale timestamp', 'stale timestamp']);
  });

  it('an exact replay of a processed delivery is refused as webhook_replayed', async () => {
    const t = newTicket();
    const first = await deliver(b, { ticket: t, status: 'approved' });
    expect(first.status).toBe(200);
    // The ticket moves on; replaying the old "approved" delivery must not move it back.
    expect((await deliver(b, { ticket: t, status: 'open' })).status).toBe(200);
    const before = (await auditEvents(b, 'ticket.webhook_rejected')).length;
    const replay = await post(b.url, first.raw, { 'x-chaperone-timestamp': String(first.ts), 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, first.ts, first.raw) });
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual({ error: { code: 'webhook_replayed', message: expect.any(String) } });
    expect(await ticketRow(b, t)).toMatchObject({ status: 'open' });
    const rejected = (await auditEvents(b, 'ticket.webhook_rejected')).slice(before);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.meta).toMatchObject({ why: 'replay' });
  });

  it('two copies of one delivery sent at the same moment: exactly one is processed', async () => {
    const t = newTicket();
    const ts = Math.floor(Date.now() / 1000);
    const raw = JSON.stringify({ event_id: crypto.randomUUID(), ticket: t, status: 'approved' });
    const headers = { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, ts, raw) };
    const results = await Promise.all([post(b.url, raw, headers), post(b.url, raw, headers), post(b.url, raw, headers)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
    expect((await auditEvents(b, 'ticket.approved')).filter((e) => e.ticket === t)).toHaveLength(1);
  });

  it('different deliveries about a ticket the broker has not seen yet, arriving together, are all accepted', async () => {
    // Ticketing systems send "created" and "approved" in quick succession. A 500 here is worse
    // than it looks: the delivery's signature is already burned, so an exact retry is refused
    // as a replay and the status change is lost.
    const t = newTicket();
    const results = await Promise.all([
      deliver(b, { ticket: t, status: 'open' }),
      deliver(b, { ticket: t, status: 'approved' }),
      deliver(b, { ticket: t, status: 'open' }),
      deliver(b, { ticket: t, status: 'approved' }),
    ]);
    expect(
      results.map((r) => r.status),
      JSON.stringify(results.map((r) => r.body)),
    ).toEqual([200, 200, 200, 200]);
    expect(['open', 'approved']).toContain((await ticketRow(b, t))?.status);
  });

  it('a body changed after signing is refused and its change not applied', async () => {
    const t = newTicket();
    expect((await deliver(b, { ticket: t, status: 'open' })).status).toBe(200);
    const s = await requestSession(analyst, ['view'], t);
    const ts = Math.floor(Date.now() / 1000);
    const signed = JSON.stringify({ event_id: crypto.randomUUID(), ticket: t, status: 'approved' });
    const tampered = signed.replace('"approved"', '"closed"');
    expect(tampered).not.toBe(signed);
    const r = await post(b.url, tampered, { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, ts, signed) });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('bad_webhook_signature');
    // Same JSON, different bytes (whitespace) also breaks the signature: the HMAC covers the raw body.
    const reformatted = JSON.stringify(JSON.parse(signed), null, 1);
    const r2 = await post(b.url, reformatted, { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, ts, signed) });
    expect(r2.status).toBe(401);
    // The timestamp is covered too.
    const r3 = await post(b.url, signed, { 'x-chaperone-timestamp': String(ts - 1), 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, ts, signed) });
    expect(r3.status).toBe(401);
    expect(await ticketRow(b, t)).toMatchObject({ status: 'open' });
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('approved');
  });

  it('a correctly signed body that is not a valid event is refused with 400 and not applied', async () => {
    const t = newTicket();
    const ts = Math.floor(Date.now() / 1000);
    const raw = JSON.stringify({ event_id: 'e1', ticket: t, status: 'deleted' });
    const r = await post(b.url, raw, { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sign(b.ctx.cfg.ticketWebhookSecret, ts, raw) });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: { code: 'invalid_body', message: expect.any(String) } });
    expect(await ticketRow(b, t)).toBeUndefined();
  });
});

describe.each(ENGINES)('policy require_open_ticket on %s', (engine) => {
  let b: TestBroker;
  let analyst: TestUser;

  beforeAll(async () => {
    b = await startTestBroker(engine, { policy: { require_open_ticket: true } });
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  const request = (ticket: string) => analyst.api.post('/api/v1/sessions', { ticket, reason: 'mail client crashes on start', capabilities: ['view'], duration_minutes: 15 });

  it('a request against a ticket the broker has never heard of is refused as ticket_required', async () => {
    const t = newTicket();
    const r = await request(t);
    expect(r.status).toBe(409);
    expect(r.body).toEqual({ error: { code: 'ticket_required', message: expect.any(String) } });
    const list = await analyst.api.get('/api/v1/sessions');
    expect((list.body.sessions as { ticket: string }[]).some((s) => s.ticket === t)).toBe(false);
    const refused = (await auditEvents(b, 'session.request_refused')).filter((e) => e.ticket === t);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ outcome: 'denied', actor: 'account:alice' });
    expect(refused[0]!.meta).toMatchObject({ code: 'ticket_required' });
  });

  it('an open or approved ticket may be worked on; once closed it is refused as ticket_closed', async () => {
    const t = newTicket();
    expect((await deliver(b, { ticket: t, status: 'open' })).status).toBe(200);
    const ok = await request(t);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const t2 = newTicket();
    expect((await deliver(b, { ticket: t2, status: 'approved' })).status).toBe(200);
    expect((await request(t2)).status).toBe(200);

    const closed = await deliver(b, { ticket: t, status: 'closed' });
    expect(closed.status).toBe(200);
    expect(closed.body.ended_sessions).toEqual([ok.body.id]);
    const r = await request(t);
    expect(r.status).toBe(409);
    expect(r.body).toEqual({ error: { code: 'ticket_closed', message: expect.any(String) } });
    const refused = (await auditEvents(b, 'session.request_refused')).filter((e) => e.ticket === t);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.meta).toMatchObject({ code: 'ticket_closed' });
  });

  it('a forged "open" for an unknown ticket does not unlock requests', async () => {
    const t = newTicket();
    const ts = Math.floor(Date.now() / 1000);
    const raw = JSON.stringify({ event_id: crypto.randomUUID(), ticket: t, status: 'open' });
    const forged = await post(b.url, raw, { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sign('guessed-secret-guessed-secret', ts, raw) });
    expect(forged.status).toBe(401);
    const r = await request(t);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('ticket_required');
    const rejected = await auditEvents(b, 'ticket.webhook_rejected');
    expect(rejected.length).toBeGreaterThanOrEqual(1);
    expect(rejected.at(-1)!.meta).toMatchObject({ why: 'bad signature' });
  });
});
