import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { canonicalJson, chainHash, checkpointMessage, eventBody, type AuditCheckpoint, type AuditEvent, type AuditEventInput } from '../../common/audit-chain.js';
import { runAuditExport } from '../../broker/audit/export.js';
import { AuditLog, HEAD_FILE, readHead, sha256hex } from '../../broker/audit/log.js';
import { runAuditVerify, verifyExportFile, verifyStoredLog, type VerifyResult } from '../../broker/audit/verify.js';
import { KeyRing } from '../../broker/keys.js';
import { openStorage, type Storage } from '../../broker/storage/db.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOTAL = 3010;

function input(i: number): AuditEventInput {
  const denied = i % 7 === 0;
  return {
    type: denied ? 'auth.login_failed' : 'session.requested',
    outcome: denied ? 'denied' : 'success',
    actor: `account:user${i % 13}`,
    session_id: i % 5 === 0 ? null : `s-${i}`,
    ticket: 'INC-42',
    source: '127.0.0.1',
    // Unicode, quotes, brackets and backslashes exercise the canonical JSON round trip through TEXT.
    meta: i % 3 === 0 ? {} : { n: i, caps: ['view', 'control'], why: 'a "quoted" ] \\ value ü ✓', flag: i % 2 === 0, none: null },
  };
}

/**
 * 3,010 events: a 1,200-event burst, 30 single appends, a key rotation, 1,270 appends arriving
 * while earlier batches commit, then batches ending exactly at 3,000 and 3,010 (so a truncation
 * back to 3,000 leaves a consistent-looking database that only the head file contradicts).
 */
async function buildLog(storage: Storage, dir: string): Promise<void> {
  const { ring } = KeyRing.load(dir, 3600e3);
  const log = new AuditLog(storage, ring, dir);
  let i = 0;
  await Promise.all(Array.from({ length: 1200 }, () => log.append(input(i++))));
  for (let k = 0; k < 30; k++) await log.append(input(i++));
  ring.rotate();
  const wave: Promise<AuditEvent>[] = [];
  for (let w = 0; w < 10; w++) {
    for (let k = 0; k < 127; k++) wave.push(log.append(input(i++)));
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(wave);
  await Promise.all(Array.from({ length: 500 }, () => log.append(input(i++))));
  await Promise.all(Array.from({ length: 10 }, () => log.append(input(i++))));
  await log.close();
  expect(i).toBe(TOTAL);
}

function bad(r: VerifyResult): { seq: number; id: string | null; problem: string } {
  if (r.ok) throw new Error(`expected a broken log, got ${JSON.stringify(r)}`);
  return r.first_bad;
}

async function captureStdout<T>(fn: () => Promise<T>): Promise<{ value: T; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { value: await fn(), out };
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
}

describe('audit log tamper detection on SQLite', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-audit-'));
  const base = path.join(root, 'base');
  let checkpoints: AuditCheckpoint[] = [];
  let copies = 0;

  beforeAll(async () => {
    const storage = await openStorage({ dataDir: base });
    await buildLog(storage, base);
    await storage.close();
    const db = new BetterSqlite3(path.join(base, 'chaperone.sqlite'), { readonly: true });
    checkpoints = db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq').all() as AuditCheckpoint[];
    db.close();
  }, 60_000);

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** A private copy of the closed data dir, optionally altered with raw SQL. */
  function tampered(alter?: (db: BetterSqlite3.Database) => void): string {
    const dir = path.join(root, `copy-${++copies}`);
    fs.cpSync(base, dir, { recursive: true });
    if (alter) {
      const db = new BetterSqlite3(path.join(dir, 'chaperone.sqlite'));
      try {
        alter(db);
      } finally {
        db.close();
      }
    }
    return dir;
  }

  const eventId = (seq: number): string => {
    const db = new BetterSqlite3(path.join(base, 'chaperone.sqlite'), { readonly: true });
    try {
      return db.prepare('SELECT id FROM audit_events WHERE seq = ?').pluck().get(seq) as string;
    } finally {
      db.close();
    }
  };

  it('the intact log verifies, across batches, single appends and a key rotation', async () => {
    const r = await verifyStoredLog({ dataDir: base });
    expect(r).toMatchObject({ ok: true, events: TOTAL, head: { seq: TOTAL } });
    expect(r.rate_per_s).toBeGreaterThan(0);
    expect(r.warnings).toBeUndefined();
    expect(new Set(checkpoints.map((c) => c.kid)).size).toBe(2);
    expect(checkpoints.map((c) => c.seq)).toEqual(expect.arrayContaining([1200, 3000, TOTAL]));
    expect(readHead(base)).toMatchObject({ seq: TOTAL });
  });

  it('a modified event is named by seq and id', async () => {
    const dir = tampered((db) => db.prepare(`UPDATE audit_events SET meta = '{"n":1}' WHERE seq = 1234`).run());
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toEqual({ seq: 1234, id: eventId(1234), problem: expect.stringMatching(/modified/) });
  });

  it('a stored meta with a duplicate key (which a SQL reader may resolve to the first) is modified, not canonicalised away', async () => {
    const db0 = new BetterSqlite3(path.join(base, 'chaperone.sqlite'), { readonly: true });
    const meta = (db0.prepare('SELECT meta FROM audit_events WHERE seq = 1235').get() as { meta: string }).meta;
    db0.close();
    const parsed = JSON.parse(meta) as Record<string, unknown>;
    const [k] = Object.keys(parsed);
    if (!k) throw new Error('event 1235 has no meta to tamper with');
    const dup = `{${JSON.stringify(k)}:"FAKE",${meta.slice(1)}`;
    const dir = tampered((db) => db.prepare('UPDATE audit_events SET meta = ? WHERE seq = 1235').run(dup));
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: 1235, problem: expect.stringMatching(/modified/) });
  });

  it('a deleted event in the middle', async () => {
    const dir = tampered((db) => db.prepare('DELETE FROM audit_events WHERE seq = 1500').run());
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: 1500, problem: expect.stringMatching(/missing/) });
  });

  it('two events swapped', async () => {
    const dir = tampered((db) =>
      db.exec('UPDATE audit_events SET seq = -700 WHERE seq = 700; UPDATE audit_events SET seq = 700 WHERE seq = 701; UPDATE audit_events SET seq = 701 WHERE seq = -700;'),
    );
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: 700, problem: expect.stringMatching(/prev_hash/) });
  });

  it('the last event truncated', async () => {
    const dir = tampered((db) => db.prepare('DELETE FROM audit_events WHERE seq = ?').run(TOTAL));
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: TOTAL, problem: expect.stringMatching(/truncated/) });
  });

  it('the last 10 events truncated with their checkpoints: the signed head file catches it', async () => {
    const cut = (db: BetterSqlite3.Database) => {
      db.prepare('DELETE FROM audit_events WHERE seq > ?').run(TOTAL - 10);
      db.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(TOTAL - 10);
    };
    const dir = tampered(cut);
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: TOTAL - 9, problem: expect.stringMatching(/signed head is at seq 3010/) });
    // Without the head the database alone is self-consistent: this is what the head file is for.
    const noHead = tampered(cut);
    fs.rmSync(path.join(noHead, HEAD_FILE));
    const r = await verifyStoredLog({ dataDir: noHead });
    expect(r).toMatchObject({ ok: true, events: TOTAL - 10 });
    expect(r.warnings?.[0]).toMatch(/no audit-head\.json/);
  });

  it('rewriting the chain with recomputed hashes is caught by the next signed checkpoint', async () => {
    const next = checkpoints.find((c) => c.seq >= 2000)!;
    const dir = tampered((db) => {
      const rows = db.prepare('SELECT * FROM audit_events WHERE seq >= 1999 ORDER BY seq').all() as (Omit<AuditEvent, 'meta'> & { meta: string })[];
      let prev = rows[0]!.hash;
      const upd = db.prepare('UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?');
      for (const r of rows.slice(1)) {
        const actor = r.seq === 2000 ? 'account:mallory' : r.actor;
        const hash = chainHash(sha256hex, prev, eventBody({ ...r, actor, meta: JSON.parse(r.meta) }));
        upd.run(actor, prev, hash, r.seq);
        prev = hash;
      }
    });
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: next.seq, problem: expect.stringMatching(/does not match the chain/) });
  });

  it('a forged checkpoint signature', async () => {
    const dir = tampered((db) => {
      const sig = db.prepare('SELECT sig FROM audit_checkpoints WHERE seq = 1200').pluck().get() as string;
      const forged = Buffer.from(sig, 'base64url');
      forged[10] = forged[10]! ^ 0x01;
      db.prepare('UPDATE audit_checkpoints SET sig = ? WHERE seq = 1200').run(forged.toString('base64url'));
    });
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: 1200, problem: 'checkpoint at seq 1200 has a bad signature' });
  });

  it('a checkpoint signed by an unknown key', async () => {
    const dir = tampered((db) => db.prepare(`UPDATE audit_checkpoints SET kid = '2099-01-01-deadbeef0000' WHERE seq = 3000`).run());
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: 3000, problem: expect.stringMatching(/unknown key "2099-01-01-deadbeef0000"/) });
  });

  it('a forged head file', async () => {
    const dir = tampered();
    const head = readHead(dir)!;
    fs.writeFileSync(path.join(dir, HEAD_FILE), JSON.stringify({ ...head, seq: head.seq + 50 }));
    expect(bad(await verifyStoredLog({ dataDir: dir }))).toMatchObject({ seq: TOTAL + 50, problem: expect.stringMatching(/head.*bad signature/) });
  });

  it('the CLI returns 0 intact, 2 broken, 1 when it cannot verify', async () => {
    const ok = await captureStdout(() => runAuditVerify({ dataDir: base }));
    expect(ok.value).toBe(0);
    expect(ok.out).toBe(`audit log intact: ${TOTAL} events, ${checkpoints.length} checkpoints, head seq ${TOTAL}\n`);
    const dir = tampered((db) => db.prepare(`UPDATE audit_events SET type = 'x' WHERE seq = 42`).run());
    const broken = await captureStdout(() => runAuditVerify({ dataDir: dir }));
    expect(broken.value).toBe(2);
    expect(broken.out).toBe(`audit log BROKEN at event seq 42 (id ${eventId(42)}): hash does not match the event content (modified)\n`);
    const json = await captureStdout(() => runAuditVerify({ dataDir: dir, json: true }));
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, first_bad: { seq: 42 } });
    expect((await captureStdout(() => runAuditVerify({ dataDir: path.join(root, 'nope') }))).value).toBe(1);
  });

  describe('export', () => {
    const file = path.join(root, 'export.jsonl');
    const lines = (): string[] => fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const writeVariant = (name: string, ls: string[]): string => {
      const f = path.join(root, name);
      fs.writeFileSync(f, `${ls.join('\n')}\n`);
      return f;
    };

    beforeAll(async () => {
      expect(await captureStdout(() => runAuditExport({ dataDir: base, out: file }))).toMatchObject({ value: 0 });
    });

    it('has a header, every event, the checkpoints, the head and both keys', () => {
      const kinds = lines().map((l) => (JSON.parse(l) as { kind: string }).kind);
      expect(kinds[0]).toBe('export');
      expect(kinds.filter((k) => k === 'event')).toHaveLength(TOTAL);
      expect(kinds.filter((k) => k === 'checkpoint')).toHaveLength(checkpoints.length);
      expect(kinds.filter((k) => k === 'head')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'key')).toHaveLength(2);
      const e = JSON.parse(lines()[5]!) as AuditEvent;
      expect(typeof e.meta).toBe('object');
    });

    it('verifies offline, with the embedded keys or the broker JWKS', async () => {
      expect(await verifyExportFile(file)).toMatchObject({ ok: true, events: TOTAL, head: { seq: TOTAL } });
      const jwks = path.join(root, 'jwks.json');
      fs.writeFileSync(jwks, JSON.stringify(KeyRing.load(base, 3600e3).ring.jwks()));
      const r = await verifyExportFile(file, { jwks });
      expect(r).toMatchObject({ ok: true, events: TOTAL });
      expect(r.warnings).toEqual([]);
      expect((await captureStdout(() => runAuditVerify({ dataDir: '/nonexistent', file }))).value).toBe(0);
    });

    it('a modified line is named by seq', async () => {
      const ls = lines();
      const i = ls.findIndex((l) => l.startsWith('{"kind":"event","seq":777,'));
      const e = JSON.parse(ls[i]!) as AuditEvent & { kind: string };
      ls[i] = JSON.stringify({ ...e, actor: 'account:someone-else' });
      const f = writeVariant('modified.jsonl', ls);
      expect(bad(await verifyExportFile(f))).toMatchObject({ seq: 777, id: e.id, problem: expect.stringMatching(/modified/) });
      expect((await captureStdout(() => runAuditVerify({ dataDir: '/nonexistent', file: f }))).value).toBe(2);
    });

    it('a line that changes its meta and carries the old meta as text beside it is still caught', async () => {
      const ls = lines();
      const i = ls.findIndex((l) => l.startsWith('{"kind":"event","seq":778,'));
      const e = JSON.parse(ls[i]!) as AuditEvent & { kind: string };
      ls[i] = JSON.stringify({ ...e, meta: { ...e.meta, n: 999999 }, meta_text: canonicalJson(e.meta) });
      expect(bad(await verifyExportFile(writeVariant('meta-text.jsonl', ls)))).toMatchObject({ seq: 778, problem: expect.stringMatching(/modified/) });
    });

    it('a dropped line, a reformatted line and a dropped head', async () => {
      const ls = lines();
      expect(bad(await verifyExportFile(writeVariant('dropped.jsonl', ls.filter((l) => !l.startsWith('{"kind":"event","seq":1500,')))))).toMatchObject({ seq: 1500 });
      // A reformatted event line is still checked: unchanged it passes (skipped, seq 9 would be
      // missing), changed it is caught.
      const respaced = (l: string, meta?: object) => JSON.stringify(meta ? { ...JSON.parse(l), meta } : JSON.parse(l)).replace('{"kind"', '{ "kind"');
      const at9 = (l: string) => l.startsWith('{"kind":"event","seq":9,');
      expect(await verifyExportFile(writeVariant('respaced.jsonl', ls.map((l) => (at9(l) ? respaced(l) : l))))).toMatchObject({ ok: true });
      expect(bad(await verifyExportFile(writeVariant('respaced-bad.jsonl', ls.map((l) => (at9(l) ? respaced(l, { n: 0 }) : l)))))).toMatchObject({ seq: 9, problem: expect.stringMatching(/modified/) });
      const truncated = ls.filter((l) => !/"kind":"event","seq":30(0[1-9]|10),/.test(l) && !/"kind":"checkpoint","seq":3010,/.test(l));
      expect(bad(await verifyExportFile(writeVariant('truncated.jsonl', truncated)))).toMatchObject({ seq: 3001, problem: expect.stringMatching(/head/) });
    });

    it('a forger who re-signs with their own key fools only a verifier that trusts the embedded keys', async () => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
      const kid = 'forger';
      const sign = (c: Pick<AuditCheckpoint, 'seq' | 'hash' | 'ts'>) => ({ ...c, kid, sig: crypto.sign(null, Buffer.from(checkpointMessage(c)), privateKey).toString('base64url') });
      const out: string[] = [];
      let prev = '';
      const newHash = new Map<number, string>();
      for (const l of lines()) {
        const o = JSON.parse(l) as { kind: string } & Record<string, unknown>;
        if (o.kind === 'event') {
          const e = o as unknown as AuditEvent;
          if (e.seq >= 2000) {
            const changed = { ...e, actor: e.seq === 2000 ? 'account:mallory' : e.actor, prev_hash: prev };
            changed.hash = chainHash(sha256hex, prev, eventBody(changed));
            newHash.set(e.seq, changed.hash);
            out.push(JSON.stringify({ kind: 'event', ...changed }));
          } else out.push(l);
          prev = (newHash.get(e.seq) ?? e.hash) as string;
        } else if (o.kind === 'checkpoint' || o.kind === 'head') {
          const c = o as unknown as AuditCheckpoint;
          out.push(JSON.stringify({ kind: o.kind, ...sign({ seq: c.seq, hash: newHash.get(c.seq) ?? c.hash, ts: c.ts }) }));
        } else if (o.kind === 'key') {
          continue;
        } else out.push(l);
      }
      out.push(JSON.stringify({ kind: 'key', jwk: { ...publicKey.export({ format: 'jwk' }), kid } }));
      const f = writeVariant('forged.jsonl', out);
      expect(await verifyExportFile(f)).toMatchObject({ ok: true });
      const jwks = path.join(root, 'jwks.json');
      fs.writeFileSync(jwks, JSON.stringify(KeyRing.load(base, 3600e3).ring.jwks()));
      expect(bad(await verifyExportFile(f, { jwks }))).toMatchObject({ problem: expect.stringMatching(/unknown key "forger"/) });
    });

    it('a partial export (--since-seq) verifies from the next event', async () => {
      const part = path.join(root, 'part.jsonl');
      expect(await captureStdout(() => runAuditExport({ dataDir: base, out: part, sinceSeq: 2500 }))).toMatchObject({ value: 0 });
      const r = await verifyExportFile(part);
      expect(r).toMatchObject({ ok: true, events: TOTAL - 2500, from_seq: 2501, head: { seq: TOTAL } });
      const ls = fs.readFileSync(part, 'utf8').trimEnd().split('\n');
      const dropFirst = ls.filter((l) => !l.startsWith('{"kind":"event","seq":2501,'));
      expect(bad(await verifyExportFile(writeVariant('part-dropped.jsonl', dropFirst)))).toMatchObject({ seq: 2501, problem: expect.stringMatching(/missing/) });
      const empty = path.join(root, 'empty.jsonl');
      expect(await captureStdout(() => runAuditExport({ dataDir: base, out: empty, sinceSeq: TOTAL }))).toMatchObject({ value: 0 });
      expect(await verifyExportFile(empty)).toMatchObject({ ok: true, events: 0 });
    });

    it('export fails cleanly without a data dir and leaves no file', async () => {
      const f = path.join(root, 'never.jsonl');
      expect((await captureStdout(() => runAuditExport({ dataDir: path.join(root, 'nope'), out: f }))).value).toBe(1);
      expect(fs.existsSync(f)).toBe(false);
    });
  });
});

describe('audit log tamper detection on PostgreSQL', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-audit-pg-'));
  const pgSchema = `audit_t_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });

  beforeAll(async () => {
    await admin.connect();
    const storage = await openStorage({ dataDir: dir, databaseUrl: PG_URL, pgSchema });
    try {
      await buildLog(storage, dir);
    } finally {
      await storage.close();
    }
  }, 60_000);

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the intact log verifies and exports', async () => {
    expect(await verifyStoredLog({ dataDir: dir, databaseUrl: PG_URL, pgSchema })).toMatchObject({ ok: true, events: TOTAL, head: { seq: TOTAL } });
    const file = path.join(dir, 'export.jsonl');
    expect(await captureStdout(() => runAuditExport({ dataDir: dir, databaseUrl: PG_URL, pgSchema, out: file }))).toMatchObject({ value: 0 });
    expect(await verifyExportFile(file)).toMatchObject({ ok: true, events: TOTAL });
  });

  it('a modified and then a deleted event are named by seq', async () => {
    await admin.query(`UPDATE ${pgSchema}.audit_events SET meta = '{"n":1}' WHERE seq = 2222`);
    expect(bad(await verifyStoredLog({ dataDir: dir, databaseUrl: PG_URL, pgSchema }))).toMatchObject({ seq: 2222, problem: expect.stringMatching(/modified/) });
    await admin.query(`DELETE FROM ${pgSchema}.audit_events WHERE seq = 1111`);
    expect(bad(await verifyStoredLog({ dataDir: dir, databaseUrl: PG_URL, pgSchema }))).toMatchObject({ seq: 1111, problem: expect.stringMatching(/missing/) });
    expect((await captureStdout(() => runAuditVerify({ dataDir: dir, databaseUrl: PG_URL, pgSchema }))).value).toBe(2);
  });
});
