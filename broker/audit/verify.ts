import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { ChainVerifier, checkpointMessage, type AuditCheckpoint, type AuditEvent, type AuditMeta, type AuditOutcome, type ChainResult, type StoredAuditEvent } from '../../common/audit-chain.js';
import { HEAD_FILE, readHead, sha256hex } from './log.js';
import { TeardownReceiptCheck } from './receipt-check.js';
import { loadKeyRingIfAny, withLogSnapshot, type StoredLogOptions } from './stored-log.js';

export type VerifyResult = ChainResult & {
  rate_per_s?: number;
  /** Set when only part of the chain was checked (an export made with --since-seq). */
  from_seq?: number;
  /** Limits of what could be proven, e.g. no head file to catch a deep truncation. */
  warnings?: string[];
};

type KeyLookup = (kid: string) => KeyObject | undefined;

/** Runs the chain check for one stream of events plus the checkpoints and head that pin it. */
class LogCheck {
  private verifier: ChainVerifier | null = null;
  private readonly unknownKids = new Set<string>();
  private readonly seqs: Set<number>;
  readonly receipts: TeardownReceiptCheck;
  private receiptProblem: { seq: number; id: string; problem: string } | null = null;
  events = 0;

  constructor(
    private readonly checkpoints: readonly AuditCheckpoint[],
    private readonly head: AuditCheckpoint | null,
    private readonly keyFor: KeyLookup,
    /** For a partial export: the chain is checked from the event after this seq. */
    private readonly fromSeq = 0,
  ) {
    this.seqs = new Set(checkpoints.map((c) => c.seq));
    // ChainVerifier compares the head only if it recorded that seq's hash.
    if (head) this.seqs.add(head.seq);
    this.receipts = new TeardownReceiptCheck(fromSeq > 0);
  }

  push(e: AuditEvent): boolean {
    this.events++;
    this.verifier ??= this.makeVerifier(e);
    return this.verifier.push(e) && this.checkReceipts(e, () => e.meta);
  }

  /** A row this process read from the database itself (see ChainVerifier.pushStored). */
  pushStored(e: StoredAuditEvent): boolean {
    this.events++;
    this.verifier ??= this.makeVerifier(e);
    // meta is parsed only for the few event types that carry receipts.
    return this.verifier.pushStored(e) && this.checkReceipts(e, () => JSON.parse(e.meta_text) as AuditMeta);
  }

  /** The signed statements an event carries (the end user's teardown receipts) check out. */
  private checkReceipts(e: Pick<AuditEvent, 'seq' | 'id' | 'type' | 'session_id'>, meta: () => AuditMeta): boolean {
    const problem = this.receipts.observe(e.type, e.session_id, meta);
    if (problem) this.receiptProblem = { seq: e.seq, id: e.id, problem };
    return problem === null;
  }

  private makeVerifier(first: AuditEvent | StoredAuditEvent | null): ChainVerifier {
    const v = new ChainVerifier(sha256hex, this.seqs);
    if (this.fromSeq > 0) {
      // ChainVerifier has no public way to start mid-chain; its two cursors are plain fields.
      // If they ever become #private this assignment stops working and every partial export
      // fails loudly at its first event rather than passing unchecked.
      Object.assign(v, { prevHash: first?.prev_hash ?? '', expectedSeq: this.fromSeq + 1 });
    }
    return v;
  }

  private readonly verifySig = (kid: string, message: string, sig: string): boolean => {
    const key = this.keyFor(kid);
    if (!key) {
      this.unknownKids.add(kid);
      return false;
    }
    try {
      return crypto.verify(null, Buffer.from(message), key, Buffer.from(sig, 'base64url'));
    } catch {
      return false;
    }
  };

  finish(): ChainResult {
    if (this.fromSeq > 0 && !this.verifier) {
      // A partial export with no events proves nothing beyond the head not being ahead of it.
      if (this.head && this.head.seq > this.fromSeq) return this.fail(this.fromSeq + 1, `log truncated: the signed head is at seq ${this.head.seq} but the export ends at ${this.fromSeq}`);
      return { ok: true, events: 0, checkpoints: 0, head: { seq: this.fromSeq, hash: '' } };
    }
    const v = (this.verifier ??= this.makeVerifier(null));
    if (this.receiptProblem) return { ok: false, events: this.events, first_bad: this.receiptProblem };
    if (v.failed) return v.finish([], this.verifySig);
    if (this.head && !this.verifySig(this.head.kid, checkpointMessage(this.head), this.head.sig)) {
      return this.fail(this.head.seq, `the signed head (${HEAD_FILE}) has a bad signature${this.kidNote(this.head.kid)}`);
    }
    const r = v.finish(this.checkpoints, this.verifySig, this.head);
    if (!r.ok && r.first_bad.problem.includes('bad signature')) {
      const cp = this.checkpoints.find((c) => c.seq === r.first_bad.seq);
      if (cp) return { ...r, first_bad: { ...r.first_bad, problem: r.first_bad.problem + this.kidNote(cp.kid) } };
    }
    return r;
  }

  private kidNote(kid: string): string {
    return this.unknownKids.has(kid) ? ` (signed by unknown key ${JSON.stringify(kid)})` : '';
  }

  private fail(seq: number, problem: string): ChainResult {
    return { ok: false, events: this.events, first_bad: { seq, id: null, problem } };
  }
}

function dataDirKeys(dataDir: string): KeyLookup {
  const ring = loadKeyRingIfAny(dataDir);
  if (!ring) throw new Error(`no signing keys in ${path.join(dataDir, 'keys')}: checkpoint signatures cannot be checked`);
  // byKid also finds retired keys, which older checkpoints were signed with.
  return (kid) => ring.byKid(kid)?.publicKey;
}

/** Verifies the broker's own database against its keys and signed head file. */
export async function verifyStoredLog(opts: StoredLogOptions): Promise<VerifyResult> {
  if (!fs.existsSync(opts.dataDir)) throw new Error(`data dir ${opts.dataDir} does not exist`);
  const head = readHead(opts.dataDir);
  return withLogSnapshot(opts, async (snap) => {
    const checkpoints = await snap.checkpoints(0);
    // Keys load after the snapshot began: a rotation writes its key file before signing with
    // it, so every kid in the snapshot (and in the earlier head) is on disk by now.
    const check = new LogCheck(checkpoints, head, dataDirKeys(opts.dataDir));
    const started = performance.now();
    outer: for await (const chunk of snap.events(0)) {
      for (const e of chunk) if (!check.pushStored(e)) break outer;
    }
    const seconds = (performance.now() - started) / 1000;
    const r: VerifyResult = check.finish();
    r.rate_per_s = seconds > 0 ? Math.round(check.events / seconds) : check.events;
    const warnings = check.receipts.warnings();
    if (!head && check.events > 0) warnings.push(`no ${HEAD_FILE} in ${opts.dataDir}: a truncation that also removed the newest checkpoints would not be detected`);
    if (warnings.length) r.warnings = warnings;
    return r;
  });
}

type ExportLine =
  | ({ kind: 'export' } & ExportHeader)
  | ({ kind: 'event' } & AuditEvent)
  | ({ kind: 'checkpoint' } & AuditCheckpoint)
  | ({ kind: 'head' } & AuditCheckpoint)
  | { kind: 'key'; jwk: crypto.JsonWebKey & { kid?: string } };

export interface ExportHeader {
  format: 'chaperone-audit-export';
  version: 1;
  /** Events with seq > since_seq are in the file; 0 for a full export. */
  since_seq: number;
  exported_at: number;
}

function jwkLookup(jwks: Iterable<crypto.JsonWebKey & { kid?: string }>): KeyLookup {
  const keys = new Map<string, KeyObject>();
  for (const jwk of jwks) {
    if (typeof jwk.kid !== 'string') continue;
    try {
      keys.set(jwk.kid, crypto.createPublicKey({ key: jwk, format: 'jwk' }));
    } catch {
      // An unusable key verifies nothing; its checkpoints are reported as signed by an unknown key.
    }
  }
  return (kid) => keys.get(kid);
}

/** How runAuditExport starts every event line; lets the first pass skip events unparsed. */
export const EVENT_PREFIX = '{"kind":"event"';

async function* exportLines(file: string): AsyncGenerator<{ n: number; text: string }> {
  const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const text of rl) {
    n++;
    if (text.trim() !== '') yield { n, text };
  }
}

/**
 * Verifies an export offline. The keys inside the export only prove the file is internally
 * consistent (a forger can sign with a key of their own); pass `jwks`, the broker's published key
 * set obtained separately, to also prove who signed it.
 */
export async function verifyExportFile(file: string, opts: { jwks?: string } = {}): Promise<VerifyResult> {
  if (!fs.existsSync(file)) throw new Error(`no export file at ${file}`);
  // First pass: the checkpoints, head and keys sit after the events, but the verifier must know
  // the checkpoint seqs before it sees the events.
  const checkpoints: AuditCheckpoint[] = [];
  const embeddedKeys: (crypto.JsonWebKey & { kid?: string })[] = [];
  let head: AuditCheckpoint | null = null;
  let header: ExportHeader | null = null;
  for await (const { n, text } of exportLines(file)) {
    if (text.startsWith(EVENT_PREFIX)) continue;
    let line: ExportLine;
    try {
      line = JSON.parse(text) as ExportLine;
    } catch {
      throw new Error(`${file}:${n} is not valid JSON`);
    }
    const kind = line.kind;
    switch (kind) {
      case 'export':
        header = line;
        break;
      case 'event':
        break;
      case 'checkpoint':
        checkpoints.push({ seq: line.seq, hash: line.hash, ts: line.ts, kid: line.kid, sig: line.sig });
        break;
      case 'head':
        head = { seq: line.seq, hash: line.hash, ts: line.ts, kid: line.kid, sig: line.sig };
        break;
      case 'key':
        embeddedKeys.push(line.jwk);
        break;
      default:
        throw new Error(`${file}:${n} has an unknown kind ${JSON.stringify(kind satisfies never)}`);
    }
  }
  const fromSeq = header?.since_seq ?? 0;
  const keyFor = opts.jwks ? jwkLookup((JSON.parse(fs.readFileSync(opts.jwks, 'utf8')) as { keys: crypto.JsonWebKey[] }).keys) : jwkLookup(embeddedKeys);
  checkpoints.sort((a, b) => a.seq - b.seq);
  // Checkpoints at or before the start of a partial export pin events that are not in the file.
  const check = new LogCheck(
    checkpoints.filter((c) => c.seq > fromSeq),
    head && head.seq > fromSeq ? head : null,
    keyFor,
    fromSeq,
  );
  const started = performance.now();
  let badLine: { n: number; seq: number } | null = null;
  for await (const { n, text } of exportLines(file)) {
    const fast = text.startsWith(EVENT_PREFIX);
    // Lines without the exact prefix were parsed in the first pass; re-parse to be sure a
    // reformatted event line is still checked rather than skipped.
    let line: ExportLine;
    try {
      line = JSON.parse(text) as ExportLine;
    } catch {
      badLine = { n, seq: fromSeq + check.events + 1 };
      break;
    }
    if (!fast && line.kind !== 'event') continue;
    if (!check.push(exportedEvent(line))) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const r: VerifyResult = badLine
    ? { ok: false, events: check.events, first_bad: { seq: badLine.seq, id: null, problem: `export line ${badLine.n} is not valid JSON` } }
    : check.finish();
  r.rate_per_s = seconds > 0 ? Math.round(check.events / seconds) : check.events;
  if (fromSeq > 0) r.from_seq = fromSeq + 1;
  const warnings: string[] = check.receipts.warnings();
  if (!opts.jwks) warnings.push('verified with the keys inside the export: pass the broker JWKS to also prove who signed it');
  if (!head) warnings.push('the export has no signed head: a truncation that also removed the newest checkpoints would not be detected');
  r.warnings = warnings;
  return r;
}

export interface AuditVerifyArgs {
  dataDir: string;
  databaseUrl?: string | undefined;
  pgSchema?: string | undefined;
  file?: string | undefined;
  jwks?: string | undefined;
  json?: boolean | undefined;
}

/** CLI entry: 0 intact, 2 broken, 1 could not verify. */
export async function runAuditVerify(args: AuditVerifyArgs): Promise<number> {
  let r: VerifyResult;
  try {
    r = args.file
      ? await verifyExportFile(args.file, args.jwks ? { jwks: args.jwks } : {})
      : await verifyStoredLog({ dataDir: args.dataDir, databaseUrl: args.databaseUrl, pgSchema: args.pgSchema });
  } catch (err) {
    process.stderr.write(`audit verify failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else if (r.ok) {
    const from = r.from_seq !== undefined ? ` (export from seq ${r.from_seq})` : '';
    process.stdout.write(`audit log intact: ${r.events} events, ${r.checkpoints} checkpoints, head seq ${r.head.seq}${from}\n`);
  } else {
    const id = r.first_bad.id ? ` (id ${r.first_bad.id})` : '';
    process.stdout.write(`audit log BROKEN at event seq ${r.first_bad.seq}${id}: ${r.first_bad.problem}\n`);
  }
  if (!args.json) for (const w of r.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  return r.ok ? 0 : 2;
}

/**
 * An export line rebuilt from the fields an event has, and nothing else: whatever else a line
 * carries (a `meta_text`, say) cannot change what is hashed. Values are not validated here for
 * the reason rowToEvent gives.
 */
function exportedEvent(line: ExportLine): AuditEvent {
  const l = line as unknown as Record<keyof AuditEvent, unknown>;
  return {
    seq: l.seq as number,
    id: l.id as string,
    ts: l.ts as number,
    type: l.type as string,
    outcome: l.outcome as AuditOutcome,
    actor: l.actor as string,
    session_id: l.session_id as string | null,
    ticket: l.ticket as string | null,
    source: l.source as string | null,
    meta: l.meta as AuditMeta,
    prev_hash: l.prev_hash as string,
    hash: l.hash as string,
  };
}
