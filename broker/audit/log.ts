import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import {
  GENESIS_HASH,
  canonicalJson,
  chainHash,
  checkpointMessage,
  eventBodyWithMeta,
  type AuditCheckpoint,
  type AuditEvent,
  type AuditEventInput,
  type StoredAuditEvent,
} from '../../common/audit-chain.js';
import type { KeyRing } from '../keys.js';
import { RefusalThrottle } from './throttle.js';
import type { Storage } from '../storage/db.js';
import { prepared, preparedOrdered } from '../storage/prepared.js';

// crypto.hash (Node 20.12+) is one call into C++ instead of three JS objects per event; the
// verifier hashes every event, so it is about a fifth of its time.
export const sha256hex = (text: string): string => crypto.hash('sha256', text, 'hex');

export function signCheckpoint(keys: KeyRing, c: Pick<AuditCheckpoint, 'seq' | 'hash' | 'ts'>): AuditCheckpoint {
  const k = keys.active;
  const sig = crypto.sign(null, Buffer.from(checkpointMessage(c)), k.privateKey).toString('base64url');
  return { ...c, kid: k.kid, sig };
}

/**
 * What gets hashed must be what the database gives back: both engines turn a lone surrogate into
 * U+FFFD and PostgreSQL refuses NUL, so those are replaced before hashing (meta is stored as JSON
 * text, which escapes them, and needs nothing).
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what PostgreSQL refuses
const unstorable = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\u0000/g;
// Almost every text has no surrogate and no NUL: one scan says so, and the replace (with its look-behind) runs only when needed.
// eslint-disable-next-line no-control-regex -- as above
const maybeUnstorable = /[\ud800-\udfff\u0000]/;
const storable = (s: string): string => (maybeUnstorable.test(s) ? s.replace(unstorable, '\ufffd') : s);
const storableOrNull = (s: string | null | undefined): string | null => (s == null ? null : storable(s));

const bucket = (seq: number): number => Math.floor(seq / 1000);

// Every batch runs these four (storage/prepared.ts: compiled once).
const lastEvent = prepared<Record<string, never>, { seq: number; hash: string }>((db) => db.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1));
const newestCheckpoints = prepared<Record<string, never>, { seq: number }>((db) => db.selectFrom('audit_checkpoints').select('seq').orderBy('seq', 'desc').limit(2));
const dropCheckpoint = prepared<{ seq: number }, never>((db, p) => db.deleteFrom('audit_checkpoints').where('seq', '=', p('seq')));
const insertCheckpoint = prepared<AuditCheckpoint, never>((db, p) => db.insertInto('audit_checkpoints').values({ seq: p('seq'), hash: p('hash'), ts: p('ts'), kid: p('kid'), sig: p('sig') }));

// A batch of up to this many events is inserted by a statement compiled once per size: most
// batches hold a few events (a request's), and building the insert anew cost more than running it.
const COMPILED_BATCH_MAX = 32;
const AUDIT_COLUMNS = ['seq', 'id', 'ts', 'type', 'outcome', 'actor', 'session_id', 'ticket', 'source', 'prev_hash', 'hash', 'meta'] as const;
type OrderedInsert = ReturnType<typeof preparedOrdered>;
const insertsBySize = new Map<number, OrderedInsert>();
function insertOf(n: number): OrderedInsert | null {
  if (n > COMPILED_BATCH_MAX) return null;
  let ins = insertsBySize.get(n);
  if (!ins) {
    const names = Array.from({ length: n }, (_, i) => AUDIT_COLUMNS.map((c) => `${c}.${i}`)).flat();
    ins = preparedOrdered(names, (db, p) => db.insertInto('audit_events').values(Array.from({ length: n }, (_, i) => Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, p(`${c}.${i}`)]))) as never));
    insertsBySize.set(n, ins);
  }
  return ins;
}
/** The rows' values in the compiled statement's order: row by row, AUDIT_COLUMNS within each. */
function insertValues(rows: StoredAuditEvent[]): unknown[] {
  const values: unknown[] = [];
  for (const r of rows) values.push(r.seq, r.id, r.ts, r.type, r.outcome, r.actor, r.session_id, r.ticket, r.source, r.prev_hash, r.hash, r.meta_text);
  return values;
}

export const HEAD_FILE = 'audit-head.json';
/** Events committed in one transaction at most. */
const MAX_BATCH = 5000;

type Listener = (e: AuditEvent) => void;

/**
 * Append-only, hash-chained audit log. Appends are queued and committed in batches, each batch
 * in one transaction with a signed checkpoint on its last event, so the head is always signed.
 */
export class AuditLog {
  private queue: { input: AuditEventInput; resolve: (e: AuditEvent) => void; reject: (err: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private headTimer: NodeJS.Timeout | null = null;
  private latestCheckpoint: AuditCheckpoint | null = null;
  private readonly listeners: Listener[] = [];
  private closed = false;
  private readonly throttle = new RefusalThrottle();
  private throttleTimer: NodeJS.Timeout | null = null;
  appended = 0;

  constructor(
    private readonly storage: Storage,
    private readonly keys: KeyRing,
    private readonly dataDir: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called for every committed event (syslog streaming, metrics). */
  onCommitted(l: Listener): void {
    this.listeners.push(l);
  }

  /** Queues an event; resolves once it is committed. */
  append(input: AuditEventInput): Promise<AuditEvent> {
    if (this.closed) return Promise.reject(new Error('audit log is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  /**
   * A refusal of something a caller sent: written like any event, but throttled per `key` (one
   * socket, one account, or one source for callers without an identity) so that a flood of
   * refusals cannot become a flood of records; what is held back is counted in the next record
   * for that key (broker/audit/throttle.ts). Resolves once written, or at once when held back.
   */
  async refused(input: AuditEventInput, key: string = refusalKey(input)): Promise<void> {
    if (this.closed) return;
    const admitted = this.throttle.admit(key, input, this.now());
    this.armThrottleTimer();
    if (admitted) await this.append(admitted);
  }

  private armThrottleTimer(): void {
    if (this.throttleTimer || this.closed) return;
    this.throttleTimer = setInterval(() => this.writeSummaries(false), 1000);
    this.throttleTimer.unref();
  }

  private writeSummaries(force: boolean): void {
    for (const s of this.throttle.drain(this.now(), force)) this.record(s);
  }

  /** Fire-and-forget append for places that must not wait; a failure is reported on stderr. */
  record(input: AuditEventInput): void {
    this.append(input).catch((err: unknown) => {
      if (!this.closed) process.stderr.write(`audit append failed: ${String(err)}\n`);
    });
  }

  /** Commits everything queued, including the summaries of refusals held back by the throttle. */
  async flush(): Promise<void> {
    if (!this.closed) this.writeSummaries(true);
    while (this.queue.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.runFlush();
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.throttleTimer) clearInterval(this.throttleTimer);
    this.throttleTimer = null;
    if (this.headTimer) clearTimeout(this.headTimer);
    this.headTimer = null;
    this.writeHead();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.flushing) void this.runFlush();
    });
  }

  private runFlush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return Promise.resolve();
    const p = this.commit(batch)
      .then((events) => {
        batch.forEach((b, i) => b.resolve(events[i]!));
        for (const e of events) {
          for (const l of this.listeners) {
            try {
              l(e);
            } catch (err) {
              process.stderr.write(`audit listener failed: ${String(err)}\n`);
            }
          }
        }
      })
      .catch((err: unknown) => batch.forEach((b) => b.reject(err)))
      .finally(() => {
        this.flushing = null;
        if (this.queue.length > 0) this.schedule();
      });
    this.flushing = p;
    return p;
  }

  /**
   * Another process (the CLI's `user add`) may hold SQLite's write lock for a moment; a deferred
   * transaction that must upgrade gets SQLITE_BUSY at once instead of waiting, so retry.
   */
  private async commit(batch: { input: AuditEventInput }[]): Promise<AuditEvent[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.commitOnce(batch);
      } catch (err) {
        const busy = (err as { code?: string }).code?.startsWith('SQLITE_BUSY');
        if (!busy || attempt >= 100) throw err;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      }
    }
  }

  private async commitOnce(batch: { input: AuditEventInput }[]): Promise<AuditEvent[]> {
    const db = this.storage.db;
    return db.transaction().execute(async (trx) => {
      if (this.storage.engine === 'postgres') {
        // Several brokers may share one database: one chain, one writer at a time.
        await sql`SELECT pg_advisory_xact_lock(7263540001)`.execute(trx);
        // What was queued while another instance held the chain joins this batch rather than
        // waiting for the next one (runFlush resolves the same array).
        if (this.queue.length > 0 && batch.length < MAX_BATCH) batch.push(...this.queue.splice(0, MAX_BATCH - batch.length));
      }
      const last = await lastEvent.first(trx, {});
      let seq = last ? Number(last.seq) : 0;
      let prev = last ? last.hash : GENESIS_HASH;
      const ts = this.now();
      // Each event as callers get it, and the row stored for it: meta as the canonical text that
      // was hashed, so verification can hash the stored text as it stands.
      const events: AuditEvent[] = [];
      const rows: StoredAuditEvent[] = [];
      for (const { input } of batch) {
        seq++;
        const fields = {
          seq,
          id: crypto.randomUUID(),
          ts,
          type: storable(input.type),
          outcome: input.outcome,
          actor: storable(input.actor),
          session_id: storableOrNull(input.session_id),
          ticket: storableOrNull(input.ticket),
          source: storableOrNull(input.source),
        };
        const meta = input.meta ?? {};
        const metaText = canonicalJson(meta);
        const hash = chainHash(sha256hex, prev, eventBodyWithMeta(fields, metaText));
        events.push({ ...fields, meta, prev_hash: prev, hash });
        rows.push({ ...fields, meta_text: metaText, prev_hash: prev, hash });
        prev = hash;
      }
      const compiled = insertOf(rows.length);
      if (compiled) await compiled.run(trx, insertValues(rows));
      else {
        for (let i = 0; i < rows.length; i += 400) {
          await trx
            .insertInto('audit_events')
            .values(rows.slice(i, i + 400).map(({ meta_text, ...r }) => ({ ...r, meta: meta_text })))
            .execute();
        }
      }
      const cp = signCheckpoint(this.keys, { seq, hash: prev, ts });
      // Keep the first checkpoint of every 1,000 events plus the newest one, so verification
      // checks few signatures while the newest event is always covered.
      const recent = await newestCheckpoints.all(trx, {});
      const [p1, p2] = recent.map((r) => Number(r.seq));
      if (p1 !== undefined && p2 !== undefined && bucket(p1) === bucket(p2) && bucket(p1) === bucket(seq)) {
        await dropCheckpoint.run(trx, { seq: p1 });
      }
      await insertCheckpoint.run(trx, cp);
      this.latestCheckpoint = cp;
      this.appended += events.length;
      this.scheduleHead();
      return events;
    });
  }

  private scheduleHead(): void {
    if (this.headTimer || this.closed) return;
    this.headTimer = setTimeout(() => {
      this.headTimer = null;
      this.writeHead();
    }, 200);
    this.headTimer.unref();
  }

  /** The signed head outside the database: catches a truncation that also removed checkpoints. */
  private writeHead(): void {
    if (!this.latestCheckpoint) return;
    const file = path.join(this.dataDir, HEAD_FILE);
    try {
      const existing = readHead(this.dataDir);
      if (existing && existing.seq > this.latestCheckpoint.seq) return; // another broker got further
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(this.latestCheckpoint), { mode: 0o600 });
      fs.renameSync(`${file}.tmp`, file);
    } catch (err) {
      process.stderr.write(`could not write audit head: ${String(err)}\n`);
    }
  }
}

/** The default throttle key: one actor, from one source, about one session, for one kind of refusal. */
export function refusalKey(input: AuditEventInput): string {
  return `${input.type}|${input.actor}|${input.source ?? ''}|${input.session_id ?? ''}`;
}

export function readHead(dataDir: string): AuditCheckpoint | null {
  const file = path.join(dataDir, HEAD_FILE);
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as AuditCheckpoint;
}
