import crypto, { type KeyObject } from 'node:crypto';
import { chainHash, checkpointMessage, eventBody, type AuditCheckpoint, type AuditEvent } from '../../common/audit-chain.js';
import { MANIFEST_TYP, RecordingManifestSchema, type RecordingManifest } from '../../common/recording.js';
import { TEARDOWN_RECEIPT_TYP } from '../../common/protocol/signaling.js';
import { sha256hex } from './log.js';
import { decode, signedByEmbeddedKey, type Decoded } from './receipt-check.js';
import { readTar } from './tar.js';
import { EVIDENCE_FORMAT } from './evidence-export.js';

export interface EvidenceReport {
  ok: boolean;
  session_id: string | null;
  /** What was found altered, missing or out of place, each naming the file or event. */
  problems: string[];
  /** What holds but a reader should know (a recording deleted under retention, cut by a crash). */
  notes: string[];
  checked: { events: number; session_events: number; chunks: number; chunk_bytes: number; receipts: number; transcript_batches: number; signatures: number };
  /** The broker keys the bundle's signatures were checked with: compare them with the broker's /.well-known/jwks.json. */
  keys: string[];
}

/** Bundles may end a statement's file with a newline. */
const decodeJws = (text: string): Decoded | null => decode(text.trim());

const edVerify = (key: KeyObject, input: string, sig: Buffer): boolean => {
  try {
    return sig.length === 64 && crypto.verify(null, Buffer.from(input), key, sig);
  } catch {
    return false;
  }
};

const jktOf = (x: string): string => crypto.createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
const sha256b64url = (s: string): string => crypto.createHash('sha256').update(s).digest('base64url');

/**
 * Checks an evidence bundle (evidence-export.ts) with nothing but its own bytes: the audit span's
 * hash chain up to a checkpoint signed by a key in the bundle; the offer signed by the broker and
 * answered by the consent receipt, signed by the device the offer was made for; every receipt the
 * same as the one chained; the manifest signed and its hash chained; every chunk present, in
 * order, with the length and sha256 its `recording.chunk` event chained; the transcript's batches
 * each hashed into the chain. Each problem names the file or event.
 */
export function verifyEvidence(bundle: Buffer): EvidenceReport {
  const report: EvidenceReport = { ok: false, session_id: null, problems: [], notes: [], checked: { events: 0, session_events: 0, chunks: 0, chunk_bytes: 0, receipts: 0, transcript_batches: 0, signatures: 0 }, keys: [] };
  const bad = (p: string) => report.problems.push(p);
  let files: { name: string; bytes: Buffer }[];
  try {
    files = readTar(bundle, { copy: false });
  } catch (e) {
    bad(`not a readable bundle: ${(e as Error).message}`);
    return report;
  }
  const byName = new Map<string, Buffer>();
  for (const f of files) {
    if (byName.has(f.name)) bad(`${f.name} appears twice`);
    byName.set(f.name, f.bytes);
  }
  const text = (n: string) => byName.get(n)?.toString('utf8');
  let index: { format?: unknown; session_id?: unknown };
  try {
    index = JSON.parse(text('evidence.json') ?? 'null') as typeof index;
    if (!index || index.format !== EVIDENCE_FORMAT || typeof index.session_id !== 'string') throw new Error('x');
  } catch {
    bad('evidence.json is missing or not a chaperone-evidence index');
    return report;
  }
  const sid = index.session_id as string;
  report.session_id = sid;

  // ---- keys
  const keys = new Map<string, KeyObject>();
  try {
    const k = JSON.parse(text('keys.json') ?? '{"keys":[]}') as { keys: { kid: string; x: string; kty: string; crv: string }[] };
    for (const j of k.keys) {
      keys.set(j.kid, crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: j.x }, format: 'jwk' }));
      report.keys.push(`${j.kid} (x=${j.x})`);
    }
  } catch {
    bad('keys.json is not a set of Ed25519 public keys');
  }
  const brokerSigned = (d: Decoded | null, typ: string): boolean => {
    if (!d || d.header.alg !== 'EdDSA' || d.header.typ !== typ || typeof d.header.kid !== 'string') return false;
    const key = keys.get(d.header.kid);
    report.checked.signatures++;
    return !!key && edVerify(key, d.input, d.sig);
  };

  // ---- the audit span
  const events: AuditEvent[] = [];
  const checkpoints: AuditCheckpoint[] = [];
  try {
    for (const l of (text('audit/events.jsonl') ?? '').split('\n')) if (l.trim()) events.push(JSON.parse(l) as AuditEvent);
    for (const l of (text('audit/checkpoints.jsonl') ?? '').split('\n')) if (l.trim()) checkpoints.push(JSON.parse(l) as AuditCheckpoint);
  } catch {
    bad('audit/events.jsonl or audit/checkpoints.jsonl is not JSON lines');
    return report;
  }
  report.checked.events = events.length;
  if (events.length === 0) bad('audit/events.jsonl holds no events');
  let chainOk = events.length > 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const prev = events[i - 1];
    if (prev && e.seq !== prev.seq + 1) {
      bad(`audit event seq ${e.seq}: follows seq ${prev.seq} (an event was removed or the events reordered)`);
      chainOk = false;
      break;
    }
    if (prev && e.prev_hash !== prev.hash) {
      bad(`audit event seq ${e.seq}: its prev_hash is not the hash of seq ${prev.seq}`);
      chainOk = false;
      break;
    }
    const { prev_hash: _p, hash: _h, ...body } = e;
    if (chainHash(sha256hex, e.prev_hash, eventBody(body)) !== e.hash) {
      bad(`audit event seq ${e.seq} (${e.type}): its content does not match its hash (edited)`);
      chainOk = false;
      break;
    }
  }
  const lastEvent = events[events.length - 1];
  if (chainOk && lastEvent) {
    const cp = checkpoints.find((c) => c.seq === lastEvent.seq);
    const key = cp ? keys.get(cp.kid) : undefined;
    report.checked.signatures++;
    if (!cp) bad(`no signed checkpoint at seq ${lastEvent.seq}, the end of the audit span`);
    else if (cp.hash !== lastEvent.hash) bad(`the checkpoint at seq ${cp.seq} signs another hash than the events give (events edited or swapped)`);
    else if (!key || !edVerify(key, checkpointMessage(cp), Buffer.from(cp.sig, 'base64url'))) bad(`the checkpoint at seq ${cp.seq} is not signed by a key in keys.json`);
  }
  const mine = events.filter((e) => e.session_id === sid);
  report.checked.session_events = mine.length;
  const metas = (type: string) => mine.filter((e) => e.type === type).map((e) => e.meta);

  // ---- offer and consent receipt
  const chainedOffer = metas('session.pending_consent')[0]?.offer;
  const offerText = text('offer.jws');
  let deviceX: string | null = null;
  let offerClaims: Record<string, unknown> | null = null;
  if (typeof chainedOffer === 'string') {
    if (offerText === undefined) bad('offer.jws is missing');
    else if (offerText !== chainedOffer) bad('offer.jws is not the offer in the audit chain (swapped or edited)');
    const d = decodeJws(chainedOffer);
    if (!brokerSigned(d, 'chaperone-offer+jwt')) bad('the offer is not signed by a broker key in keys.json');
    else offerClaims = d!.payload;
    if (offerClaims && offerClaims.sid !== sid) bad('the offer is for another session');
  } else {
    report.notes.push('no offer in the chain (the session never reached consent)');
  }
  const chainedConsent = metas('session.active')[0]?.receipt;
  if (typeof chainedConsent === 'string') {
    report.checked.receipts++;
    const f = text('receipts/consent.jws');
    if (f === undefined) bad('receipts/consent.jws is missing');
    else if (f !== chainedConsent) bad('receipts/consent.jws is not the consent receipt in the audit chain (swapped or edited)');
    const d = decodeJws(chainedConsent);
    deviceX = d ? signedByEmbeddedKey(d, 'chaperone-consent+jwt') : null;
    if (!d || !deviceX) bad('the consent receipt is not signed by the device key it names');
    else {
      const cnf = (offerClaims?.cnf as { jkt?: unknown } | undefined)?.jkt;
      if (cnf !== undefined && cnf !== jktOf(deviceX)) bad('the consent receipt is signed by another device than the one the offer was made for');
      if (d.payload.sid !== sid) bad('the consent receipt is for another session');
      if (typeof chainedOffer === 'string' && d.payload.offer_hash !== sha256b64url(chainedOffer)) bad('the consent receipt answers another offer');
      if (offerClaims && d.payload.decision === 'accept' && offerClaims.recording !== undefined && d.payload.recording !== offerClaims.recording) bad('the consent receipt states another recording mode than the offer');
    }
  }
  const receiptSet = (type: string, prefix: string, typ: string) => {
    metas(type).forEach((m, i) => {
      if (typeof m.receipt !== 'string') return;
      report.checked.receipts++;
      const name = `receipts/${prefix}-${i}.jws`;
      const f = text(name);
      if (f === undefined) bad(`${name} is missing`);
      else if (f !== m.receipt) bad(`${name} is not the ${prefix} receipt in the audit chain (swapped or edited)`);
      const d = decodeJws(m.receipt);
      const x = d ? signedByEmbeddedKey(d, typ) : null;
      if (!x) bad(`the ${prefix} receipt ${i} is not signed by the device key it names`);
      else if (deviceX && x !== deviceX) bad(`the ${prefix} receipt ${i} is signed by another device than the consent receipt`);
      else if (d!.payload.sid !== sid) bad(`the ${prefix} receipt ${i} is for another session`);
    });
  };
  receiptSet('extension.accepted', 'extension', 'chaperone-extension+jwt');
  receiptSet('client.teardown_report', 'teardown', TEARDOWN_RECEIPT_TYP);
  for (const f of files) {
    const m = /^receipts\/(extension|teardown)-(\d+)\.jws$/.exec(f.name);
    const type = m?.[1] === 'extension' ? 'extension.accepted' : 'client.teardown_report';
    if (m && Number(m[2]) >= metas(type).length) bad(`${f.name} is in the bundle but not in the audit chain`);
  }

  // ---- recording
  const chunkEvents = metas('recording.chunk') as unknown as { seq: number; bytes: number; sha256: string }[];
  const finalised = metas('recording.finalised')[0];
  const deleted = metas('recording.deleted')[0];
  const chunkFiles = files.filter((f) => /^recording\/chunk-\d{6}-[0-9a-f]{64}\.webm$/.test(f.name));
  if (deleted) {
    report.notes.push(`the recording was deleted (${String(deleted.why ?? 'retention')}); its manifest hash ${String(deleted.manifest_sha256 ?? finalised?.manifest_sha256 ?? '')} stays in the chain`);
  } else if (chunkEvents.length > 0 || finalised) {
    const chunkSeqs = chunkEvents.map((c) => c.seq);
    chunkSeqs.forEach((s, i) => s !== i && bad(`the chain's recording.chunk events skip or repeat: seq ${s} at position ${i}`));
    // Each file is named by its seq and sha256; the bytes must be what the chain says for that seq.
    const present = new Map<number, { name: string; bytes: Buffer }>();
    for (const f of chunkFiles) {
      const seq = Number(f.name.slice(16, 22));
      if (present.has(seq)) bad(`two files for chunk ${seq}`);
      present.set(seq, f);
    }
    let lastSeenOrder = -1;
    for (const f of chunkFiles) {
      const seq = Number(f.name.slice(16, 22));
      if (seq < lastSeenOrder) bad(`chunk ${seq} comes after chunk ${lastSeenOrder} in the bundle (reordered)`);
      lastSeenOrder = Math.max(lastSeenOrder, seq);
    }
    for (const c of chunkEvents) {
      const f = present.get(c.seq);
      if (!f) {
        bad(`recording chunk ${c.seq} is missing (removed)`);
        continue;
      }
      present.delete(c.seq);
      report.checked.chunks++;
      report.checked.chunk_bytes += f.bytes.length;
      const h = crypto.createHash('sha256').update(f.bytes).digest('hex');
      if (f.bytes.length !== c.bytes || h !== c.sha256) bad(`recording chunk ${c.seq} (${f.name}) does not match its recording.chunk event: ${f.bytes.length} bytes, sha256 ${h.slice(0, 12)}…, chained ${c.bytes} bytes, ${c.sha256.slice(0, 12)}…`);
      else if (!f.name.endsWith(`-${c.sha256}.webm`)) bad(`recording chunk ${c.seq} is under another chunk's name (reordered)`);
    }
    for (const [seq, f] of present) bad(`${f.name}: chunk ${seq} is not in the audit chain`);
    const manifestText = text('recording/manifest.jws');
    if (!finalised) report.notes.push('the recording has no manifest yet (the session had not ended when this was exported)');
    else if (manifestText === undefined) bad('recording/manifest.jws is missing');
    else {
      if (sha256hex(manifestText) !== finalised.manifest_sha256) bad('recording/manifest.jws is not the manifest whose hash is in the chain (swapped or edited)');
      const d = decodeJws(manifestText);
      if (!brokerSigned(d, MANIFEST_TYP)) bad('recording/manifest.jws is not signed by a broker key in keys.json');
      else {
        const parsed = RecordingManifestSchema.safeParse(d!.payload);
        if (!parsed.success) bad('recording/manifest.jws does not hold a recording manifest');
        else {
          const m: RecordingManifest = parsed.data;
          if (m.session_id !== sid) bad('the manifest is for another session');
          const same = m.chunks.length === chunkEvents.length && m.chunks.every((c, i) => c.seq === chunkEvents[i]!.seq && c.sha256 === chunkEvents[i]!.sha256 && c.bytes === chunkEvents[i]!.bytes);
          if (!same) bad('the manifest lists other chunks than the audit chain');
          if (m.finalised === 'after_restart') report.notes.push('the recording was cut by the broker going down; it was finalised when the broker next started');
          const playable = byName.get('recording/recording.webm');
          if (playable && m.playable_sha256 && crypto.createHash('sha256').update(playable).digest('hex') !== m.playable_sha256) bad('recording/recording.webm is not the playable file the manifest names');
        }
      }
    }
  } else if (chunkFiles.length > 0) {
    bad('the bundle has recording chunks the audit chain does not know');
  }

  // ---- transcript
  const batches = metas('transcript.batch') as unknown as { seq: number; sha256: string; lines: number }[];
  const tText = text('transcript.jsonl');
  if (batches.length > 0 || tText !== undefined) {
    const lines = (tText ?? '').split('\n').filter((l) => l.length > 0);
    // Each batch is one line of the file: its sha256 chained as transcript.batch.
    lines.forEach((l, i) => {
      const b = batches[i];
      if (!b) return bad(`transcript.jsonl line ${i + 1} is not in the audit chain`);
      if (sha256hex(l) !== b.sha256) bad(`transcript.jsonl line ${i + 1} (batch ${b.seq}) does not match its transcript.batch event (edited)`);
      report.checked.transcript_batches++;
    });
    if (batches.length > lines.length) bad(`transcript.jsonl has ${lines.length} batches, the chain ${batches.length} (removed)`);
  }
  report.ok = report.problems.length === 0;
  return report;
}
