import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar, writeTar } from '../../broker/audit/tar.js';
import { verifyEvidence } from '../../broker/audit/evidence-verify.js';
import { createUser, startTestBroker, tempDir, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, type ActiveSession } from '../../kit/lifecycle.js';
import { fakeChunk, uploadChunk } from '../../kit/recording.js';
import { SignalingClient } from '../../kit/signaling-client.js';

/** expect.poll is for tests only; beforeAll waits with this. */
async function until(cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'chaperone-broker.mjs');

/**
 * The evidence bundle (issue 11): exported by the CLI and the API, verified offline with nothing
 * else, and every kind of tampering named: a flipped byte in a chunk, a removed chunk, reordered
 * chunks, an edited transcript line, a swapped receipt, an edited audit event.
 */
describe('evidence export and verify', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let auditor: TestUser;
  let s: ActiveSession;
  let bundle: Buffer;
  const work = tempDir('chaperone-evidence-');

  beforeAll(async () => {
    b = await startTestBroker('sqlite', { policy: { recordings: { with_control: 'required', view_only: 'best_effort', stall_suspend_seconds: 10, stall_end_seconds: 30, retention_days: 365, quota_mb: 1024 } } });
    analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    auditor = await createUser(b, 'audrey', ['auditor']);
    s = await activeSession(b, analyst, { caps: ['view', 'control', 'chat'], approver });
    for (let seq = 0; seq < 4; seq++) expect((await uploadChunk(b.url, s.endUser.device, s.endUserToken, s.id, seq, fakeChunk(seq, 3000 + seq))).status).toBe(200);
    for (let seq = 0; seq < 3; seq++) {
      const batch = { seq, entries: [{ t: Date.now(), kind: 'click', x: 0.1 * seq, y: 0.5, button: 'left' }, { t: Date.now(), kind: 'keys', count: 4 + seq }] };
      const r = await s.endUser.call('POST', `/api/v1/sessions/${s.id}/recording/transcript`, batch, { token: s.endUserToken });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    // Out of order is refused.
    expect((await s.endUser.call('POST', `/api/v1/sessions/${s.id}/recording/transcript`, { seq: 5, entries: [{ t: 1, kind: 'keys', count: 1 }] }, { token: s.endUserToken })).status).toBe(409);
    // A teardown receipt on signaling, as the app sends it at the end.
    const eu = await SignalingClient.connect(b.url, s.endUserToken, s.endUser.device);
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    eu.sendJson({ type: 'teardown.report', revoked: ['capture'], receipt: await s.endUser.device.teardownReceipt(s.id, ['capture']) });
    await until(async () => (await b.ctx.storage.db.selectFrom('recordings').select('state').where('session_id', '=', s.id).executeTakeFirstOrThrow()).state === 'finalised');
    await until(async () => (await b.ctx.storage.db.selectFrom('teardown_reports').selectAll().where('session_id', '=', s.id).execute()).length === 1);
    eu.close();
    await b.ctx.audit.flush();
    const res = await fetch(`${b.url}/api/v1/sessions/${s.id}/evidence`, {
      headers: { authorization: `DPoP ${auditor.api.accessToken}`, dpop: await auditor.api.device.httpProof('GET', `${b.url}/api/v1/sessions/${s.id}/evidence`, auditor.api.accessToken!) },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-tar');
    bundle = Buffer.from(await res.arrayBuffer());
  }, 60_000);
  afterAll(async () => {
    await b?.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const files = () => readTar(bundle);
  const rebuild = (f: { name: string; bytes: Buffer }[]) => writeTar(f, Date.now());
  const problems = (t: Buffer) => verifyEvidence(t).problems.join('\n');

  it('the bundle from the API verifies intact, with the offer, receipts, chunks and signed manifest, and the export is audited', async () => {
    const r = verifyEvidence(bundle);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checked).toMatchObject({ chunks: 4, receipts: 2, transcript_batches: 3 });
    const names = files().map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['evidence.json', 'audit/events.jsonl', 'audit/checkpoints.jsonl', 'keys.json', 'offer.jws', 'receipts/consent.jws', 'receipts/teardown-0.jws', 'recording/manifest.jws']));
    expect(names.filter((n) => n.startsWith('recording/chunk-'))).toHaveLength(4);
    await b.ctx.audit.flush();
    const exported = await b.ctx.storage.db.selectFrom('audit_events').selectAll().where('type', '=', 'recording.exported').execute();
    expect(exported[0]).toMatchObject({ actor: 'account:audrey', session_id: s.id });
    // An analyst may not download evidence.
    const denied = await analyst.api.get(`/api/v1/sessions/${s.id}/evidence`);
    expect(denied.status).toBe(403);
  });

  it('a flipped byte in any chunk is named', () => {
    const f = files();
    const c = f.find((x) => x.name.startsWith('recording/chunk-000002'))!;
    c.bytes[100] = c.bytes[100]! ^ 0x01;
    expect(problems(rebuild(f))).toMatch(/recording chunk 2 .*does not match its recording\.chunk event/);
  });

  it('a removed chunk is named', () => {
    const f = files().filter((x) => !x.name.startsWith('recording/chunk-000001'));
    expect(problems(rebuild(f))).toMatch(/recording chunk 1 is missing/);
  });

  it('reordered chunks are named (bytes swapped between two files, or the files in another order)', () => {
    const f = files();
    const a = f.find((x) => x.name.startsWith('recording/chunk-000000'))!;
    const c = f.find((x) => x.name.startsWith('recording/chunk-000003'))!;
    [a.bytes, c.bytes] = [c.bytes, a.bytes];
    expect(problems(rebuild(f))).toMatch(/recording chunk 0 .*does not match[\s\S]*recording chunk 3 .*does not match/);
    const g = files();
    const i0 = g.findIndex((x) => x.name.startsWith('recording/chunk-000000'));
    const i3 = g.findIndex((x) => x.name.startsWith('recording/chunk-000003'));
    [g[i0], g[i3]] = [g[i3]!, g[i0]!];
    expect(problems(rebuild(g))).toMatch(/comes after chunk 3 in the bundle \(reordered\)/);
  });

  it('an edited transcript line, or a removed one, is named', () => {
    const f = files();
    const t = f.find((x) => x.name === 'transcript.jsonl')!;
    const lines = t.bytes.toString('utf8').split('\n');
    lines[1] = lines[1]!.replace('"count":5', '"count":50');
    t.bytes = Buffer.from(lines.join('\n'));
    expect(problems(rebuild(f))).toMatch(/transcript\.jsonl line 2 \(batch 1\) does not match its transcript\.batch event \(edited\)/);
    const g = files();
    const u = g.find((x) => x.name === 'transcript.jsonl')!;
    u.bytes = Buffer.from(u.bytes.toString('utf8').split('\n').filter((_l, i) => i !== 2).join('\n'));
    expect(problems(rebuild(g))).toMatch(/transcript\.jsonl has 2 batches, the chain 3 \(removed\)/);
  });

  it('a swapped receipt is named (another session\'s consent receipt, or an edited one)', async () => {
    const other = await activeSession(b, analyst, { caps: ['view', 'chat'] });
    const r = await b.ctx.storage.db.selectFrom('audit_events').select('meta').where('session_id', '=', other.id).where('type', '=', 'session.active').executeTakeFirstOrThrow();
    const f = files();
    f.find((x) => x.name === 'receipts/consent.jws')!.bytes = Buffer.from((JSON.parse(r.meta) as { receipt: string }).receipt);
    expect(problems(rebuild(f))).toMatch(/receipts\/consent\.jws is not the consent receipt in the audit chain/);
    const g = files();
    const t = g.find((x) => x.name === 'receipts/teardown-0.jws')!;
    t.bytes = Buffer.from(t.bytes.toString('utf8').replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A')));
    expect(problems(rebuild(g))).toMatch(/receipts\/teardown-0\.jws is not the teardown receipt/);
  });

  it('an edited audit event, or the manifest swapped, is named', () => {
    const f = files();
    const ev = f.find((x) => x.name === 'audit/events.jsonl')!;
    const lines = ev.bytes.toString('utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"recording.chunk"'));
    lines[i] = lines[i]!.replace(/"bytes":(\d+)/, (_m, n: string) => `"bytes":${Number(n) + 1}`);
    ev.bytes = Buffer.from(lines.join('\n'));
    expect(problems(rebuild(f))).toMatch(/audit event seq \d+ \(recording\.chunk\): its content does not match its hash \(edited\)/);
    const g = files();
    const m = g.find((x) => x.name === 'recording/manifest.jws')!;
    const [h, p, sig] = m.bytes.toString('utf8').split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as { chunks: unknown[] };
    claims.chunks.pop();
    m.bytes = Buffer.from(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`);
    expect(problems(rebuild(g))).toMatch(/manifest\.jws is not the manifest whose hash is in the chain/);
  });

  it('the same on the stored files: a flipped byte in a chunk file in the data dir shows in the next export', async () => {
    const dir = path.join(b.dataDir, 'recordings', s.id);
    const name = fs.readdirSync(dir).find((n) => n.startsWith('chunk-000001'))!;
    const file = path.join(dir, name);
    const original = fs.readFileSync(file);
    const flipped = Buffer.from(original);
    flipped[7] = flipped[7]! ^ 0x80;
    fs.writeFileSync(file, flipped);
    try {
      const again = await b.ctx.evidence.export(s.id, { actor: 'test', source: null });
      expect(problems(again)).toMatch(/recording chunk 1 .*does not match/);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('the CLI: evidence export writes the bundle, evidence verify exits 0 intact and 2 tampered, naming what', { timeout: 120_000 }, () => {
    const out = path.join(work, 'bundle.tar');
    const env = { ...process.env, CHAPERONE_LOG_LEVEL: 'silent' };
    const ex = spawnSync(process.execPath, [BIN, 'evidence', 'export', '--session', s.id, '--out', out, '--data-dir', b.dataDir], { env, encoding: 'utf8', timeout: 60_000 });
    expect(ex.status, ex.stderr).toBe(0);
    const ok = spawnSync(process.execPath, [BIN, 'evidence', 'verify', out], { env, encoding: 'utf8', timeout: 60_000 });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^intact: session /);
    const f = readTar(fs.readFileSync(out));
    const first = f.find((x) => x.name.startsWith('recording/chunk-000000'))!;
    first.bytes[0] = first.bytes[0]! ^ 0xff;
    const bad = path.join(work, 'tampered.tar');
    fs.writeFileSync(bad, writeTar(f, Date.now()));
    const t = spawnSync(process.execPath, [BIN, 'evidence', 'verify', bad], { env, encoding: 'utf8', timeout: 60_000 });
    expect(t.status, t.stdout + t.stderr).toBe(2);
    expect(t.stdout).toMatch(/TAMPERED[\s\S]*recording chunk 0/);
    expect(crypto.createHash('sha256').update(fs.readFileSync(out)).digest('hex')).toMatch(/^[0-9a-f]{64}$/);
  });
});
