import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';
import { fakeChunk, uploadChunk } from '../../kit/recording.js';
import type { SignalingClient } from '../../kit/signaling-client.js';
import { WatchClient } from '../../kit/watch-client.js';
import type { BrokerFrame } from '../../common/protocol/signaling.js';

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

async function audited(b: TestBroker, sessionId: string, type: string): Promise<{ actor: string; meta: Record<string, unknown> }[]> {
  await b.ctx.audit.flush();
  const rows = await b.ctx.storage.db.selectFrom('audit_events').select(['meta', 'actor']).where('session_id', '=', sessionId).where('type', '=', type).orderBy('seq').execute();
  return rows.map((r) => ({ actor: r.actor, meta: JSON.parse(r.meta) as Record<string, unknown> }));
}

type Presence = Extract<BrokerFrame, { type: 'presence' }>;
const names = (p: { present: { name: string }[] }) => p.present.map((x) => x.name);

/** The presence frame that lists exactly these names (earlier ones are skipped). */
async function presenceOf(c: SignalingClient, want: string[]): Promise<Presence> {
  for (;;) {
    const p = await c.nextOfType('presence');
    if (JSON.stringify(names(p)) === JSON.stringify(want)) return p;
  }
}

describe.each(ENGINES)('watching a live session (%s)', (engine) => {
  let b: TestBroker | null = null;
  const open: { close(): void }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    await b?.destroy();
    b = null;
  });

  async function setUp(policy: Record<string, unknown> = {}) {
    b = await startTestBroker(engine, { policy });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const sup = await createUser(b, 'sue', ['supervisor'], 'internal', 'Acme Security');
    return { b, analyst, approver, sup };
  }

  it('the supervisor gets the chunks in order (chunk 0 and the newest stored, then live), and everyone sees who watches', async () => {
    const { b, analyst, approver, sup } = await setUp();
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const claims = JSON.parse(Buffer.from(s.offer.split('.')[1]!, 'base64url').toString('utf8')) as { watchers: unknown };
    expect(claims.watchers).toEqual({ allowed: true, required: null });
    const { eu, an } = await connectBoth(b, analyst, s);
    open.push(eu, an);
    expect(names(await eu.nextOfType('presence'))).toEqual(['Alice Tester']);

    const chunks = [0, 1, 2].map((i) => fakeChunk(i, 3000 + i));
    for (let i = 0; i < 2; i++) expect((await uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, i, chunks[i]!)).status).toBe(200);

    const w = await WatchClient.watch(b.url, sup.api, s.id);
    open.push(w);
    expect(w.ready).toMatchObject({ session_id: s.id, counts: false, picture: true, watchers_needed: 0, control: { suspended: false } });
    expect(names(w.ready!)).toEqual(['Alice Tester', 'Sue Tester']);
    const seen = await presenceOf(eu, ['Alice Tester', 'Sue Tester']);
    expect(seen.present[1]).toMatchObject({ kind: 'watcher', role: 'supervisor', organisation: 'Acme Security' });
    await presenceOf(an, ['Alice Tester', 'Sue Tester']);

    await w.untilChunks(2);
    expect((await uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, 2, chunks[2]!)).status).toBe(200);
    await w.untilChunks(3);
    expect(w.chunks.map((c) => [c.seq, c.live])).toEqual([
      [0, false],
      [1, false],
      [2, true],
    ]);
    w.chunks.forEach((c, i) => expect(c.bytes.equals(chunks[i]!)).toBe(true));

    // The Live screen lists the session with its watcher.
    const live = await sup.api.get('/api/v1/live');
    expect(live.status).toBe(200);
    expect(live.body.sessions).toHaveLength(1);
    expect(live.body.sessions[0]).toMatchObject({ session_id: s.id, analyst: { username: 'alice', name: 'Alice Tester' }, approver: 'Bob Tester', recording: { chunks: 3 }, can_watch: true });
    expect(names(live.body.sessions[0])).toEqual(['Alice Tester', 'Sue Tester']);

    w.close();
    await presenceOf(eu, ['Alice Tester']);

    // A late watcher gets chunk 0 (the WebM header) and the newest stored one, then what comes.
    for (let i = 3; i < 6; i++) expect((await uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, i, fakeChunk(i))).status).toBe(200);
    const late = await WatchClient.watch(b.url, sup.api, s.id);
    open.push(late);
    await late.untilChunks(2);
    const six = fakeChunk(6);
    expect((await uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, 6, six)).status).toBe(200);
    await late.untilChunks(3);
    expect(late.chunks.map((c) => [c.seq, c.live])).toEqual([
      [0, false],
      [5, false],
      [6, true],
    ]);
    expect(late.chunks[0]!.bytes.equals(chunks[0]!)).toBe(true);
    expect(late.chunks[2]!.bytes.equals(six)).toBe(true);
    late.close();
    await presenceOf(eu, ['Alice Tester', 'Sue Tester']);
    await presenceOf(eu, ['Alice Tester']);
    await presenceOf(an, ['Alice Tester']);
    const joined = await audited(b, s.id, 'watch.joined');
    const left = await audited(b, s.id, 'watch.left');
    expect(joined).toHaveLength(2);
    expect(joined[0]).toEqual({ actor: 'account:sue', meta: expect.objectContaining({ role: 'supervisor', counts: false }) });
    expect(left[0]).toEqual({ actor: 'account:sue', meta: expect.objectContaining({ why: 'closed', watcher_id: w.ready!.watcher_id }) });
  });

  it('only supervisors and admins watch, never their own session, only where the offer allowed it, one socket per ticket', async () => {
    const { b, analyst, approver, sup } = await setUp();
    const auditor = await createUser(b, 'carol', ['auditor']);
    const s = await activeSession(b, analyst, { caps: ['view'], approver });
    for (const u of [analyst, approver, auditor]) {
      expect((await u.api.post(`/api/v1/sessions/${s.id}/watch`, {})).status).toBe(403);
      expect((await u.api.get('/api/v1/live')).status).toBe(403);
    }
    // An analyst who is also a supervisor does not watch their own session.
    const both = await createUser(b, 'dave', ['analyst', 'supervisor']);
    const own = await activeSession(b, both, { caps: ['view'], approver });
    const r = await both.api.post(`/api/v1/sessions/${own.id}/watch`, {});
    expect([r.status, r.body.error.code]).toEqual([403, 'own_session']);
    const listed = (await both.api.get('/api/v1/live')).body.sessions as { session_id: string; can_watch: boolean }[];
    expect(listed.find((x) => x.session_id === own.id)?.can_watch).toBe(false);

    // A ticket opens one socket, for its session only, with the key it is bound to.
    const t = await sup.api.post(`/api/v1/sessions/${s.id}/watch`, {});
    expect(t.status).toBe(200);
    const other = await WatchClient.open(b.url, `/api/v1/sessions/${own.id}/watch`);
    await other.auth(t.body.token, sup.api.device);
    expect([other.ready, await other.closed()]).toEqual([null, 4001]);
    const stolen = await WatchClient.open(b.url, t.body.url);
    await stolen.auth(t.body.token, analyst.api.device);
    expect([stolen.ready, await stolen.closed()]).toEqual([null, 4001]);
    const first = await WatchClient.open(b.url, t.body.url);
    open.push(first);
    await first.auth(t.body.token, sup.api.device);
    expect(first.ready?.session_id).toBe(s.id);
    const again = await WatchClient.open(b.url, t.body.url);
    await again.auth(t.body.token, sup.api.device);
    expect(again.ready).toBeNull();
    expect(again.refusal).toMatchObject({ code: 'ticket_used' });
    expect(stolen.refusal).toMatchObject({ code: 'bad_proof' });
    expect(other.refusal).toMatchObject({ code: 'wrong_session' });
    expect(await again.closed()).toBe(4001);

    // Sessions offered under watchers_allowed: false cannot be watched, also after the policy changes back.
    b.ctx.cfg.policy = { ...b.ctx.cfg.policy, watchers_allowed: false };
    const closed = await activeSession(b, analyst, { caps: ['view'], approver });
    expect((JSON.parse(Buffer.from(closed.offer.split('.')[1]!, 'base64url').toString('utf8')) as { watchers: unknown }).watchers).toEqual({ allowed: false, required: null });
    b.ctx.cfg.policy = { ...b.ctx.cfg.policy, watchers_allowed: true };
    const no = await sup.api.post(`/api/v1/sessions/${closed.id}/watch`, {});
    expect([no.status, no.body.error.code]).toEqual([409, 'watchers_not_allowed']);
    expect((await audited(b, closed.id, 'watch.refused')).map((x) => x.meta.why)).toEqual(['watchers not allowed']);
  });

  it('the watch socket refuses what is not its protocol, and a silent watcher counts as gone', async () => {
    const { b, analyst, approver, sup } = await setUp({ heartbeat_timeout_seconds: 5 });
    const s = await activeSession(b, analyst, { caps: ['view'], approver });
    for (const bad of [Buffer.from([1, 2, 3]), 'not json', JSON.stringify({ type: 'signal', payload: {} }), JSON.stringify({ type: 'heartbeat' })]) {
      const c = await WatchClient.open(b.url, `/api/v1/sessions/${s.id}/watch`);
      await c.nextOfType('challenge');
      c.ws.send(bad, { binary: Buffer.isBuffer(bad) });
      expect([4001, 4002]).toContain(await c.closed());
    }
    const quiet = await WatchClient.watch(b.url, sup.api, s.id, { heartbeatMs: null });
    open.push(quiet);
    expect(await quiet.closed(9000)).toBe(4006);
    await settle();
    expect((await audited(b, s.id, 'watch.left')).map((x) => x.meta.why)).toEqual(['lapsed']);
  });

  it('a watcher suspends and resumes control, sends a note, and ends the session; each audited', async () => {
    const { b, analyst, approver, sup } = await setUp();
    const other = await createUser(b, 'sam', ['supervisor']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    open.push(eu, an);
    const notWatching = await other.api.post(`/api/v1/sessions/${s.id}/moderation/suspend`, {});
    expect([notWatching.status, notWatching.body.error.code]).toEqual([409, 'not_watching']);

    const w = await WatchClient.watch(b.url, sup.api, s.id);
    open.push(w);
    const sus = await sup.api.post(`/api/v1/sessions/${s.id}/moderation/suspend`, { reason: 'checking what this script does' });
    expect(sus.status).toBe(200);
    const control = { suspended: true, reasons: ['by_watcher'], by: 'Sue Tester', note: 'checking what this script does', ends_at: null };
    expect(sus.body).toEqual({ control });
    expect((await eu.nextOfType('control.state')).control).toEqual(control);
    expect((await an.nextOfType('control.state')).control).toEqual(control);
    expect((await w.nextOfType('control.state')).control).toEqual(control);
    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'control' });
    expect(await an.nextOfType('error')).toMatchObject({ code: 'control_suspended' });
    expect(eu.frames.filter((f) => f.type === 'grant.request')).toEqual([]);
    expect((await sup.api.post(`/api/v1/sessions/${s.id}/moderation/suspend`, {})).body.error.code).toBe('already_suspended');

    const res = await sup.api.post(`/api/v1/sessions/${s.id}/moderation/resume`, {});
    expect(res.body).toEqual({ control: { suspended: false, reasons: [], by: null, note: null, ends_at: null } });
    expect((await eu.nextOfType('control.state')).control.suspended).toBe(false);
    an.sendJson({ type: 'grant.request', request_id: 'c2', capability: 'control' });
    expect(await eu.nextOfType('grant.request')).toMatchObject({ request_id: 'c2', capability: 'control' });
    expect((await sup.api.post(`/api/v1/sessions/${s.id}/moderation/resume`, {})).body.error.code).toBe('not_suspended');

    const bad = await sup.api.post(`/api/v1/sessions/${s.id}/moderation/note`, { text: 'x'.repeat(501) });
    expect(bad.status).toBe(400);
    expect((await sup.api.post(`/api/v1/sessions/${s.id}/moderation/note`, { text: 'look\u202e here' })).status).toBe(400);
    const note = await sup.api.post(`/api/v1/sessions/${s.id}/moderation/note`, { text: 'please close the payroll window' });
    expect(note.body).toMatchObject({ delivered: true });
    expect(await an.nextOfType('watch.note')).toMatchObject({ from: 'Sue Tester', text: 'please close the payroll window' });
    expect(eu.frames.filter((f) => f.type === 'watch.note')).toEqual([]);

    const end = await sup.api.post(`/api/v1/sessions/${s.id}/moderation/end`, { reason: 'policy breach' });
    expect(end.status).toBe(200);
    expect(end.body).toMatchObject({ state: 'ended', end_reason: 'revoked' });
    expect(await eu.nextOfType('session.ended')).toEqual({ type: 'session.ended', reason: 'revoked', note: 'policy breach' });
    expect(await an.nextOfType('session.ended')).toEqual({ type: 'session.ended', reason: 'revoked', note: 'policy breach' });
    expect(await w.nextOfType('session.ended')).toEqual({ type: 'session.ended', reason: 'revoked', note: 'policy breach' });
    expect(await w.closed()).toBe(4000);

    expect(await audited(b, s.id, 'moderation.control_suspended')).toEqual([{ actor: 'account:sue', meta: expect.objectContaining({ note_length: 30 }) }]);
    expect((await audited(b, s.id, 'moderation.control_resumed')).map((x) => x.actor)).toEqual(['account:sue']);
    const notes = await audited(b, s.id, 'moderation.note');
    expect(notes).toEqual([{ actor: 'account:sue', meta: expect.objectContaining({ length: 31 }) }]);
    expect(JSON.stringify(notes)).not.toContain('payroll');
    expect((await audited(b, s.id, 'moderation.ended')).map((x) => x.actor)).toEqual(['account:sue']);
    expect((await audited(b, s.id, 'session.ended'))[0]).toMatchObject({ actor: 'account:sue', meta: { reason: 'revoked', by_watcher: true } });
    expect((await audited(b, s.id, 'watch.left')).map((x) => x.meta.why)).toEqual(['ended']);
  });
});

describe.each(ENGINES)('a vendor session under require_watcher (%s)', (engine) => {
  let b: TestBroker | null = null;
  const open: { close(): void }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    await b?.destroy();
    b = null;
  });

  async function vendorSession(onLeave: 'suspend' | 'end', graceS: number) {
    b = await startTestBroker(engine, { policy: { require_watcher: { count: 1, roles: ['supervisor', 'admin'], on_leave: onLeave, grace_s: graceS, for: { analyst_kinds: ['vendor'], ticket_prefixes: [] } } } });
    const vendor = await createUser(b, 'vic', ['analyst'], 'vendor', 'Printers Ltd');
    const approver: TestUser = await createUser(b, 'bob', ['approver', 'supervisor']);
    const sup = await createUser(b, 'sue', ['supervisor']);
    const s = await activeSession(b, vendor, { caps: ['view', 'control'], approver });
    const claims = JSON.parse(Buffer.from(s.offer.split('.')[1]!, 'base64url').toString('utf8')) as { watchers: unknown };
    expect(claims.watchers).toEqual({ allowed: true, required: { count: 1, roles: ['supervisor', 'admin'], on_leave: onLeave, grace_s: graceS } });
    const { eu, an } = await connectBoth(b, vendor, s);
    open.push(eu, an);
    return { b, vendor, approver, sup, s, eu, an };
  }

  it('control is refused until a watcher who counts joins (the approver does not), suspended when it leaves, and the session ends after the grace', async () => {
    const { b, approver, sup, s, eu, an } = await vendorSession('end', 2);
    expect((await an.nextOfType('presence')).watchers_needed).toBe(1);
    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'control' });
    const refused = await an.nextOfType('error');
    expect(refused.code).toBe('watchers_required');
    expect(refused.message).toMatch(/one more watcher/);

    const byApprover = await WatchClient.watch(b.url, approver.api, s.id);
    open.push(byApprover);
    expect(byApprover.ready).toMatchObject({ counts: false, watchers_needed: 1 });
    an.sendJson({ type: 'grant.request', request_id: 'c2', capability: 'control' });
    expect((await an.nextOfType('error')).code).toBe('watchers_required');

    const w = await WatchClient.watch(b.url, sup.api, s.id);
    open.push(w);
    expect(w.ready).toMatchObject({ counts: true, watchers_needed: 0 });
    expect((await presenceOf(an, ['Vic Tester', 'Bob Tester', 'Sue Tester'])).watchers_needed).toBe(0);
    an.sendJson({ type: 'grant.request', request_id: 'c3', capability: 'control' });
    const asked = await eu.nextOfType('grant.request');
    eu.sendJson({ type: 'grant.response', request_id: asked.request_id, capability: 'control', allow: true });
    expect(await an.nextOfType('grant.changed')).toMatchObject({ capability: 'control', granted: true });

    const leftAt = Date.now();
    w.close();
    const suspended = (await eu.nextOfType('control.state')).control;
    expect(suspended).toMatchObject({ suspended: true, reasons: ['watcher_left'] });
    expect(suspended.ends_at! - leftAt).toBeGreaterThan(1000);
    expect(suspended.ends_at! - leftAt).toBeLessThan(3500);
    expect((await an.nextOfType('control.state')).control.suspended).toBe(true);
    const ended = await eu.nextOfType('session.ended', 6000);
    expect(ended.reason).toBe('watcher_absent');
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(1900);
    expect(await byApprover.closed()).toBe(4000);
    const unmet = await audited(b, s.id, 'watch.requirement_unmet');
    expect(unmet).toHaveLength(1);
    expect((await audited(b, s.id, 'session.ended'))[0]?.meta).toMatchObject({ reason: 'watcher_absent' });
  });

  it('with on_leave suspend, a watcher coming back lifts the suspension; the session goes on', async () => {
    const { b, sup, s, eu, an } = await vendorSession('suspend', 1);
    const w = await WatchClient.watch(b.url, sup.api, s.id);
    w.close();
    expect((await eu.nextOfType('control.state')).control).toMatchObject({ suspended: true, reasons: ['watcher_left'], ends_at: null });
    await settle(1500);
    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'control' });
    expect((await an.nextOfType('error')).code).toBe('control_suspended');
    const back = await WatchClient.watch(b.url, sup.api, s.id);
    open.push(back);
    expect((await eu.nextOfType('control.state')).control.suspended).toBe(false);
    an.sendJson({ type: 'grant.request', request_id: 'c2', capability: 'control' });
    expect(await eu.nextOfType('grant.request')).toMatchObject({ request_id: 'c2' });
    expect((await b.ctx.sessions.row(s.id)).state).toBe('active');
  });

  it('a restart does not bring control back: a met requirement starts short again, a watcher\'s suspension holds', async () => {
    const v0 = await vendorSession('suspend', 1);
    const { sup, s } = v0;
    let broker = v0.b;
    const w = await WatchClient.watch(broker.url, sup.api, s.id);
    expect((await sup.api.post(`/api/v1/sessions/${s.id}/moderation/suspend`, {})).status).toBe(200);
    for (const c of open.splice(0)) c.close();
    w.close();
    broker = await broker.restart();
    b = broker;
    const row = broker.ctx.sessions.live.get(s.id)!;
    const v = await broker.ctx.sessions.watchView(row);
    expect(v.control).toMatchObject({ suspended: true, reasons: ['by_watcher', 'watcher_left'], by: 'Sue Tester' });
  });
});
