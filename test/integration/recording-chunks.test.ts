import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, type ActiveSession } from '../../kit/lifecycle.js';
import { fakeChunk, uploadChunk } from '../../kit/recording.js';
import { DirRecordingStore, type RecordingStore } from '../../broker/storage/recording-store.js';
import { MANIFEST_TYP, MAX_CHUNK_BYTES, RecordingManifestSchema } from '../../common/recording.js';
import { ENGINES } from '../../kit/broker.js';
import { connectBoth } from '../../kit/lifecycle.js';

const REQUIRED = { with_control: 'required', view_only: 'best_effort', stall_suspend_seconds: 10, stall_end_seconds: 30, retention_days: 365, quota_mb: 1024 } as const;

/**
 * The recording's broker half (issue 11): chunks uploaded with the end user's session token and
 * device key, checked, stored through the storage port in the data dir, chained, acked; the
 * signed manifest at the end; a recording cut by a broker that went down finalised on its next start.
 */
describe.each(ENGINES)('recording chunks on %s', (engine) => {
  let b: TestBroker;
  let analyst: TestUser;
  let approver: TestUser;
  afterEach(async () => {
    await b?.destroy();
  });

  async function setup(extra: Parameters<typeof startTestBroker>[1] = {}): Promise<ActiveSession> {
    b = await startTestBroker(engine, { policy: { recordings: REQUIRED }, ...extra });
    analyst = await createUser(b, 'alice', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
    return activeSession(b, analyst, { caps: ['view', 'control', 'chat'], approver });
  }

  const events = async (sid: string, type: string) => {
    await b.ctx.audit.flush();
    const rows = await b.ctx.storage.db.selectFrom('audit_events').select(['meta', 'outcome']).where('session_id', '=', sid).where('type', '=', type).orderBy('seq').execute();
    return rows.map((r) => JSON.parse(r.meta) as Record<string, unknown>);
  };
  const up = (s: ActiveSession, seq: number, bytes: Buffer, o?: { sha256?: string; bytes?: number }) => uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, seq, bytes, o);

  it('the offer and the receipt say the session is recorded; chunks are stored beside the database, chained, acked; the manifest is signed at the end', async () => {
    const s = await setup();
    const offer = JSON.parse(Buffer.from(s.offer.split('.')[1]!, 'base64url').toString('utf8')) as { recording: string };
    expect(offer.recording).toBe('required');
    const chunks = [fakeChunk(0), fakeChunk(1, 9000), fakeChunk(2)];
    for (const [seq, c] of chunks.entries()) {
      const r = await up(s, seq, c);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ seq, bytes: c.length, sha256: crypto.createHash('sha256').update(c).digest('hex'), duplicate: false });
    }
    // A retry of a stored chunk (its ack was lost) is acked again, not stored twice.
    expect((await up(s, 1, chunks[1]!)).body).toMatchObject({ seq: 1, duplicate: true });
    const chained = await events(s.id, 'recording.chunk');
    expect(chained).toEqual(chunks.map((c, seq) => ({ seq, bytes: c.length, sha256: crypto.createHash('sha256').update(c).digest('hex') })));
    const dir = path.join(b.dataDir, 'recordings', s.id);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('chunk-'))).toHaveLength(3);
    expect((await events(s.id, 'consent.receipt_rejected')).length).toBe(0);
    const activated = await events(s.id, 'session.active');
    expect(activated[0]).toMatchObject({ recording: 'required' });

    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    await expect.poll(async () => (await events(s.id, 'recording.finalised')).length, { timeout: 10_000 }).toBe(1);
    const fin = (await events(s.id, 'recording.finalised'))[0]!;
    const jws = fs.readFileSync(path.join(dir, 'manifest.jws'), 'utf8');
    expect(fin.manifest_sha256).toBe(crypto.createHash('sha256').update(jws).digest('hex'));
    const [h, p, sig] = jws.split('.');
    const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as { typ: string; kid: string };
    expect(header.typ).toBe(MANIFEST_TYP);
    const key = b.ctx.keys.published(Date.now()).find((k) => k.kid === header.kid)!;
    expect(crypto.verify(null, Buffer.from(`${h}.${p}`), key.publicKey, Buffer.from(sig!, 'base64url'))).toBe(true);
    const manifest = RecordingManifestSchema.parse(JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')));
    expect(manifest).toMatchObject({ session_id: s.id, finalised: 'at_end', total_bytes: chunks.reduce((n, c) => n + c.length, 0), session_end_reason: 'completed' });
    expect(manifest.chunks.map((c) => c.seq)).toEqual([0, 1, 2]);

    // After the end: refused and audited.
    const late = await up(s, 3, fakeChunk(3));
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('session_ended');
    expect(await events(s.id, 'recording.chunk_refused')).toContainEqual({ seq: 3, why: 'after the session ended' });
  });

  it('out of order, repeated with other bytes, a wrong hash or length, too large, and another device are refused and audited; nothing is stored for them', async () => {
    const s = await setup();
    expect((await up(s, 0, fakeChunk(0))).status).toBe(200);
    const gap = await up(s, 2, fakeChunk(2));
    expect([gap.status, gap.body.error.code]).toEqual([409, 'chunk_out_of_order']);
    const other = await up(s, 0, fakeChunk(0));
    expect([other.status, other.body.error.code]).toEqual([409, 'chunk_conflict']);
    const badHash = await up(s, 1, fakeChunk(1), { sha256: '0'.repeat(64) });
    expect([badHash.status, badHash.body.error.code]).toEqual([400, 'chunk_hash_mismatch']);
    const badLen = await up(s, 1, fakeChunk(1), { bytes: 10 });
    expect([badLen.status, badLen.body.error.code]).toEqual([400, 'chunk_length_mismatch']);
    const big = await up(s, 1, Buffer.alloc(MAX_CHUNK_BYTES + 1, 1));
    expect(big.status).toBe(413);
    // The analyst's token is not the end user's: refused.
    const analystUp = await uploadChunk(b.url, analyst.api.device, s.analystToken, s.id, 1, fakeChunk(1));
    expect(analystUp.status).toBe(403);
    const whys = (await events(s.id, 'recording.chunk_refused')).map((m) => m.why);
    expect(whys).toEqual(expect.arrayContaining(['out of order', 'repeated with other bytes', 'sha256 differs from the declared one', 'length differs from the declared one']));
    const rec = await b.ctx.storage.db.selectFrom('recordings').selectAll().where('session_id', '=', s.id).executeTakeFirstOrThrow();
    expect([rec.next_seq, rec.chunks]).toEqual([1, 1]);
    // Octet-stream bodies are taken by the chunk route only.
    const elsewhere = await fetch(`${b.url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
    expect(elsewhere.status).toBe(415);
  });

  it('two uploads of the same seq at once: one is stored, the other acked as a duplicate or refused', async () => {
    const s = await setup();
    const a = fakeChunk(0);
    const c = fakeChunk(0);
    const [ra, rc] = await Promise.all([up(s, 0, a), up(s, 0, c)]);
    const ok = [ra, rc].filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect([ra, rc].find((r) => r.status !== 200)!.body.error.code).toMatch(/chunk_conflict|chunk_out_of_order/);
    expect(await events(s.id, 'recording.chunk')).toHaveLength(1);
  });

  it('a recording cut by the broker going down is finalised on its next start, and says so', async () => {
    const s = await setup();
    for (let seq = 0; seq < 2; seq++) expect((await up(s, seq, fakeChunk(seq))).status).toBe(200);
    // Down mid-session (nothing finalised), and back after the session's time ran out.
    await b.close();
    const later = Date.now() + 31 * 60_000;
    b = await b.restart({ clock: { now: () => later, at: () => () => undefined } });
    await expect.poll(async () => (await events(s.id, 'recording.finalised')).length, { timeout: 10_000 }).toBe(1);
    expect((await events(s.id, 'recording.finalised'))[0]).toMatchObject({ finalised: 'after_restart', chunks: 2 });
    const jws = fs.readFileSync(path.join(b.dataDir, 'recordings', s.id, 'manifest.jws'), 'utf8');
    const manifest = JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as { finalised: string; session_end_reason: string };
    expect(manifest).toMatchObject({ finalised: 'after_restart', session_end_reason: 'expired' });
  });

  it('a session ended over signaling and the broker stopped at once: the manifest is still signed at the end, not left for the next start', async () => {
    const s = await setup();
    expect((await up(s, 0, fakeChunk(0))).status).toBe(200);
    const { eu, an } = await connectBoth(b, analyst, s);
    // The parties hear the end before the manifest is written; a broker going down right then
    // (a test's teardown, a service stop) must not pull its storage away under the finalise.
    eu.sendJson({ type: 'end' });
    await an.next((f) => f.type === 'session.ended');
    await b.close();
    expect(fs.existsSync(path.join(b.dataDir, 'recordings', s.id, 'manifest.jws'))).toBe(true);
    b = await b.restart();
    expect((await events(s.id, 'recording.finalised')).map((m) => m.finalised)).toEqual(['at_end']);
    eu.close();
    an.close();
  });
});

describe.each(ENGINES)('retention and quota on %s', (engine) => {
  let b: TestBroker;
  afterEach(async () => {
    await b?.destroy();
  });

  it('past the quota the oldest recording is deleted: its files go, recording.deleted keeps the manifest hash, and its evidence says deleted, not tampered', { timeout: 120_000 }, async () => {
    b = await startTestBroker(engine, { policy: { recordings: { ...REQUIRED, quota_mb: 1 } } });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const recorded = async () => {
      const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
      for (let seq = 0; seq < 2; seq++) expect((await uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, seq, fakeChunk(seq, 400 * 1024))).status).toBe(200);
      expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
      return s;
    };
    const first = await recorded();
    await expect.poll(async () => (await b.ctx.storage.db.selectFrom('recordings').select('state').where('session_id', '=', first.id).executeTakeFirstOrThrow()).state, { timeout: 10_000 }).toBe('finalised');
    const second = await recorded();
    await expect.poll(async () => (await b.ctx.storage.db.selectFrom('recordings').select('state').where('session_id', '=', first.id).executeTakeFirstOrThrow()).state, { timeout: 10_000 }).toBe('deleted');
    expect(fs.existsSync(path.join(b.dataDir, 'recordings', first.id))).toBe(false);
    expect(fs.existsSync(path.join(b.dataDir, 'recordings', second.id, 'manifest.jws'))).toBe(true);
    // The stored total retention reads (kept by triggers) is the sum it stands for.
    const db = b.ctx.storage.db;
    const summed = await db.selectFrom('recordings').select((eb) => eb.fn.sum<number | string>('bytes').as('t')).where('state', '=', 'finalised').executeTakeFirstOrThrow();
    const stored = await db.selectFrom('recording_totals').select('finalised_bytes').executeTakeFirstOrThrow();
    expect(Number(stored.finalised_bytes)).toBe(Number(summed.t));
    expect(Number(stored.finalised_bytes)).toBeGreaterThan(400 * 1024);
    await b.ctx.audit.flush();
    const del = await b.ctx.storage.db.selectFrom('audit_events').select('meta').where('session_id', '=', first.id).where('type', '=', 'recording.deleted').executeTakeFirstOrThrow();
    const fin = await b.ctx.storage.db.selectFrom('audit_events').select('meta').where('session_id', '=', first.id).where('type', '=', 'recording.finalised').executeTakeFirstOrThrow();
    expect(JSON.parse(del.meta)).toMatchObject({ why: 'quota', manifest_sha256: JSON.parse(fin.meta).manifest_sha256 });
    const { verifyEvidence } = await import('../../broker/audit/evidence-verify.js');
    const report = verifyEvidence(await b.ctx.evidence.export(first.id, { actor: 'test', source: null }));
    expect(report.problems).toEqual([]);
    expect(report.notes.join('\n')).toMatch(/the recording was deleted \(quota\)/);
    // The Recordings screen lists it as deleted, and it cannot be played or its markers read.
    const auditor = await createUser(b, 'carol', ['auditor']);
    const rows = (await auditor.api.get('/api/v1/recordings')).body.recordings as { session_id: string; state: string; playable: boolean }[];
    expect(rows.find((r) => r.session_id === first.id)).toMatchObject({ state: 'deleted', playable: false });
    expect(rows.find((r) => r.session_id === second.id)).toMatchObject({ state: 'finalised' });
    const play = await auditor.api.post(`/api/v1/sessions/${first.id}/recording/playback`, {});
    expect([play.status, play.body.error.code]).toEqual([409, 'recording_deleted']);
    expect((await auditor.api.get(`/api/v1/sessions/${first.id}/recording/markers`)).body.error.code).toBe('recording_deleted');
  });
});

/** A storage port that fails on purpose: the fault is in the broker's store, not in a fake recorder. */
class BreakableStore implements RecordingStore {
  broken = false;
  constructor(private readonly inner: RecordingStore) {}
  put(sid: string, name: string, bytes: Buffer) {
    if (this.broken && name.startsWith('chunk-')) return Promise.reject(new Error('disk full (injected)'));
    return this.inner.put(sid, name, bytes);
  }
  get(sid: string, name: string) {
    return this.inner.get(sid, name);
  }
  list(sid: string) {
    return this.inner.list(sid);
  }
  delete(sid: string, name: string) {
    return this.inner.delete(sid, name);
  }
  removeAll(sid: string) {
    return this.inner.removeAll(sid);
  }
}

describe('fail closed when the recording is required', () => {
  let b: TestBroker;
  afterEach(async () => {
    await b?.destroy();
  });

  it('the store fails: no ack for N s suspends control (both told, audited); past the second limit the session ends as recording_failed', { timeout: 90_000 }, async () => {
    let store: BreakableStore | null = null;
    b = await startTestBroker('sqlite', {
      policy: { recordings: { ...REQUIRED, stall_suspend_seconds: 3, stall_end_seconds: 7 } },
      recordingStore: (dir) => (store = new BreakableStore(new DirRecordingStore(dir))),
    });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const { SignalingClient } = await import('../../kit/signaling-client.js');
    const eu = await SignalingClient.connect(b.url, s.endUserToken, s.endUser.device);
    const an = await SignalingClient.connect(b.url, s.analystToken, analyst.api.device);
    const up = (seq: number) => uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, seq, fakeChunk(seq));
    expect((await up(0)).status).toBe(200);
    // Control granted, as the end user would allow it.
    an.sendJson({ type: 'grant.request', request_id: 'req-control-1', capability: 'control' });
    await eu.next((f) => f.type === 'grant.request');
    eu.sendJson({ type: 'grant.response', request_id: 'req-control-1', capability: 'control', allow: true });
    await an.next((f) => f.type === 'grant.changed' && f.granted === true);
    const t0 = Date.now();
    store!.broken = true;
    const failed = await up(1);
    expect([failed.status, failed.body.error.code]).toEqual([503, 'recording_store_failed']);
    // Both sides hear control go, with why.
    const [euOff, anOff] = await Promise.all([
      eu.next((f) => f.type === 'grant.changed' && f.granted === false, 15_000),
      an.next((f) => f.type === 'grant.changed' && f.granted === false, 15_000),
    ]);
    expect(euOff).toMatchObject({ capability: 'control', by: 'broker', reason: 'recording_stalled' });
    expect(anOff).toMatchObject({ reason: 'recording_stalled' });
    const suspendedAfter = Date.now() - t0;
    expect(suspendedAfter).toBeLessThan(3000 + 2000);
    // Asking again while it is stalled is refused.
    an.sendJson({ type: 'grant.request', request_id: 'req-control-2', capability: 'control' });
    expect(await an.next((f) => f.type === 'error')).toMatchObject({ code: 'recording_stalled' });
    const [euEnd, anEnd] = await Promise.all([eu.next((f) => f.type === 'session.ended', 15_000), an.next((f) => f.type === 'session.ended', 15_000)]);
    expect(euEnd).toMatchObject({ reason: 'recording_failed' });
    expect(anEnd).toMatchObject({ reason: 'recording_failed' });
    await expect.poll(async () => (await b.ctx.storage.db.selectFrom('recordings').select('state').where('session_id', '=', s.id).executeTakeFirstOrThrow()).state, { timeout: 10_000 }).toBe('finalised');
    await b.ctx.audit.flush();
    const types = (await b.ctx.storage.db.selectFrom('audit_events').select('type').where('session_id', '=', s.id).orderBy('seq').execute()).map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(['recording.store_failed', 'recording.stalled', 'grant.revoked', 'session.ended', 'recording.finalised']));
    const row = await b.ctx.storage.db.selectFrom('sessions').select('end_reason').where('id', '=', s.id).executeTakeFirstOrThrow();
    expect(row.end_reason).toBe('recording_failed');
    eu.close();
    an.close();
  });
});
