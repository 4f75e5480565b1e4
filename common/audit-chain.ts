/**
 * The audit log is a hash chain: each event's hash covers the previous hash and the event's
 * canonical JSON, so changing, deleting or reordering any event breaks every hash after it.
 * Signed checkpoints pin the head so that truncation is caught too. Hashing and signature
 * checks are injected so this runs unchanged in the broker, the CLI and a browser.
 */
import type { AuditEventType, AuditOutcome } from './audit-events.js';

export { AUDIT_OUTCOMES, type AuditOutcome } from './audit-events.js';

export const GENESIS_HASH = '0'.repeat(64);

export type AuditMeta = Record<string, string | number | boolean | null | string[]>;

/** What a caller supplies; the log adds seq, id, time and the hashes. Only catalogued types. */
export interface AuditEventInput {
  type: AuditEventType;
  outcome: AuditOutcome;
  actor: string;
  session_id?: string | null;
  ticket?: string | null;
  source?: string | null;
  meta?: AuditMeta;
}

export interface AuditEvent {
  seq: number;
  id: string;
  ts: number;
  type: string;
  outcome: AuditOutcome;
  actor: string;
  session_id: string | null;
  ticket: string | null;
  source: string | null;
  meta: AuditMeta;
  prev_hash: string;
  hash: string;
}

/**
 * An event as the database holds it: meta as the JSON text the broker wrote. Since the broker
 * stores meta in canonical form, that text is exactly what was hashed, so a verifier can hash it
 * as it stands and parse nothing (about a fifth of verification time).
 */
export type StoredAuditEvent = Omit<AuditEvent, 'meta'> & { meta_text: string };

export interface AuditCheckpoint {
  seq: number;
  hash: string;
  ts: number;
  kid: string;
  sig: string;
}

export type HashHex = (text: string) => string;
export type VerifySignature = (kid: string, message: string, sigB64url: string) => boolean;

/** JSON with object keys sorted at every depth, so the same event always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * The canonical JSON of an event's fields. Written out in sorted key order by hand because
 * verification hashes every event and a generic sort per event costs most of the time; the
 * result is byte for byte what canonicalJson gives for the same object (a unit test checks).
 */
export function eventBody(e: Omit<AuditEvent, 'prev_hash' | 'hash'>): string {
  return eventBodyWithMeta(e, canonicalJson(e.meta));
}

/**
 * The same body with meta given as its canonical JSON text. Every other field is a JSON scalar
 * written by JSON.stringify, so the text between `"meta":` and `,"outcome":` is fixed by the rest
 * of the body: a stored meta text that hashes right is the very text the broker hashed.
 */
export function eventBodyWithMeta(e: Omit<AuditEvent, 'prev_hash' | 'hash' | 'meta'>, metaJson: string): string {
  const s = JSON.stringify;
  return `{"actor":${s(e.actor)},"id":${s(e.id)},"meta":${metaJson},"outcome":${s(e.outcome)},"seq":${s(e.seq)},"session_id":${s(e.session_id)},"source":${s(e.source)},"ticket":${s(e.ticket)},"ts":${s(e.ts)},"type":${s(e.type)}}`;
}

export function chainHash(hash: HashHex, prevHash: string, body: string): string {
  return hash(`${prevHash}\n${body}`);
}

export function checkpointMessage(c: Pick<AuditCheckpoint, 'seq' | 'hash' | 'ts'>): string {
  return `chaperone-audit-checkpoint\n${c.seq}\n${c.hash}\n${c.ts}`;
}

export type ChainProblem = { seq: number; id: string | null; problem: string };
export type ChainResult =
  | { ok: true; events: number; checkpoints: number; head: { seq: number; hash: string } }
  | { ok: false; events: number; first_bad: ChainProblem };

/** Feeds events in stored order; stops at the first problem. */
export class ChainVerifier {
  private prevHash = GENESIS_HASH;
  private expectedSeq = 1;
  private count = 0;
  private problem: ChainProblem | null = null;
  private readonly hashesBySeq = new Map<number, string>();

  constructor(
    private readonly hash: HashHex,
    private readonly checkpointSeqs: ReadonlySet<number> = new Set(),
  ) {}

  get failed(): ChainProblem | null {
    return this.problem;
  }

  /** An event as exported or built in memory: its meta object is what is hashed (canonically). */
  push(e: AuditEvent): boolean {
    return this.check(e, () => chainHash(this.hash, e.prev_hash, eventBody(e)));
  }

  /**
   * A row read from the broker's own database: its stored meta text is hashed as it stands. Only
   * for rows the verifier read itself; an export line is untrusted input and goes through push(),
   * so a line cannot pick which meta gets hashed.
   */
  pushStored(e: StoredAuditEvent): boolean {
    return this.check(e, () => this.storedHash(e));
  }

  private check(e: AuditEvent | StoredAuditEvent, hashOf: () => string): boolean {
    if (this.problem) return false;
    this.count++;
    if (e.seq !== this.expectedSeq) {
      const what = e.seq > this.expectedSeq ? 'missing (deleted)' : 'out of order (reordered or duplicated)';
      this.problem = { seq: this.expectedSeq, id: e.id, problem: `event ${this.expectedSeq} is ${what}; found seq ${e.seq}` };
      return false;
    }
    if (e.prev_hash !== this.prevHash) {
      this.problem = { seq: e.seq, id: e.id, problem: 'prev_hash does not match the previous event (reordered or deleted)' };
      return false;
    }
    const computed = hashOf();
    if (computed !== e.hash) {
      this.problem = { seq: e.seq, id: e.id, problem: 'hash does not match the event content (modified)' };
      return false;
    }
    if (this.checkpointSeqs.has(e.seq)) this.hashesBySeq.set(e.seq, e.hash);
    this.prevHash = e.hash;
    this.expectedSeq++;
    return true;
  }

  private storedHash(e: StoredAuditEvent): string {
    const asStored = chainHash(this.hash, e.prev_hash, eventBodyWithMeta(e, e.meta_text));
    if (asStored === e.hash) return asStored;
    // Rows written before meta was stored canonically hold JSON.stringify of the meta object; only
    // text of exactly that form is canonicalised and retried. Anything else (duplicate keys that a
    // SQL reader might resolve differently, odd spacing) is what it looks like: modified.
    let parsed: unknown;
    try {
      parsed = JSON.parse(e.meta_text);
    } catch {
      return asStored;
    }
    if (JSON.stringify(parsed) !== e.meta_text) return asStored;
    const canonical = canonicalJson(parsed);
    return canonical === e.meta_text ? asStored : chainHash(this.hash, e.prev_hash, eventBodyWithMeta(e, canonical));
  }

  /**
   * Checks the signed checkpoints against the chain. Because the broker writes a checkpoint in
   * the same transaction as every batch of events, the newest checkpoint must sit exactly on the
   * newest event; `head`, kept outside the database, catches a truncation that also removed
   * checkpoints.
   */
  finish(
    checkpoints: readonly AuditCheckpoint[],
    verifySig: VerifySignature,
    head?: { seq: number; hash: string } | null,
  ): ChainResult {
    if (this.problem) return { ok: false, events: this.count, first_bad: this.problem };
    const lastSeq = this.expectedSeq - 1;
    let maxCp = 0;
    for (const c of checkpoints) {
      if (!verifySig(c.kid, checkpointMessage(c), c.sig)) {
        return this.fail(c.seq, `checkpoint at seq ${c.seq} has a bad signature`);
      }
      if (c.seq > lastSeq) {
        return this.fail(lastSeq + 1, `log truncated: a signed checkpoint covers seq ${c.seq} but the log ends at ${lastSeq}`);
      }
      const h = this.hashesBySeq.get(c.seq);
      if (h !== c.hash) return this.fail(c.seq, `checkpoint at seq ${c.seq} does not match the chain`);
      maxCp = Math.max(maxCp, c.seq);
    }
    if (head) {
      if (head.seq > lastSeq) {
        return this.fail(lastSeq + 1, `log truncated: the signed head is at seq ${head.seq} but the log ends at ${lastSeq}`);
      }
      if (head.seq > 0 && this.hashesBySeq.get(head.seq) !== undefined && this.hashesBySeq.get(head.seq) !== head.hash) {
        return this.fail(head.seq, `the signed head does not match event ${head.seq}`);
      }
    }
    if (lastSeq > 0 && maxCp !== lastSeq) {
      return this.fail(maxCp + 1, `events after seq ${maxCp} are not covered by a signed checkpoint (appended or truncated outside the broker)`);
    }
    return { ok: true, events: this.count, checkpoints: checkpoints.length, head: { seq: lastSeq, hash: this.prevHash } };
  }

  private fail(seq: number, problem: string): ChainResult {
    this.problem = { seq, id: null, problem };
    return { ok: false, events: this.count, first_bad: this.problem };
  }
}
