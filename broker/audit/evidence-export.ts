import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../common/audit-chain.js';
import type { KeyRing } from '../keys.js';
import type { Database } from '../storage/schema.js';
import { chunkObjectName, MANIFEST_OBJECT, PLAYABLE_OBJECT, type RecordingStore } from '../storage/recording-store.js';
import { parseMeta } from './stored-log.js';
import { writeTar } from './tar.js';

export const EVIDENCE_FORMAT = 'chaperone-evidence';
export const EVIDENCE_VERSION = 1;

export class EvidenceError extends Error {}

/**
 * One session's evidence as one tar (docs/evidence.md): the audit events from the session's first
 * to the signed checkpoint after its last (every event in that span, the session's and others',
 * because each hash covers the one before), the broker's public keys, the signed offer, the
 * end user's consent, extension and teardown receipts, the recording's chunks, playable file and
 * signed manifest, and the transcript. `evidence verify` checks it with nothing else.
 */
export async function buildEvidenceBundle(o: { db: Kysely<Database>; store: RecordingStore; keys: KeyRing; sessionId: string; now: number }): Promise<{ tar: Buffer; files: number; bytes: number }> {
  const { db, store, sessionId } = o;
  const session = await db.selectFrom('sessions').select(['id', 'ticket_ref', 'state']).where('id', '=', sessionId).executeTakeFirst();
  if (!session) throw new EvidenceError(`no session ${sessionId}`);
  const span = await db.selectFrom('audit_events').select((eb) => [eb.fn.min('seq').as('first'), eb.fn.max('seq').as('last')]).where('session_id', '=', sessionId).executeTakeFirst();
  const first = Number(span?.first ?? NaN);
  const last = Number(span?.last ?? NaN);
  if (!Number.isFinite(first)) throw new EvidenceError(`session ${sessionId} has no audit events`);
  const cp = await db.selectFrom('audit_checkpoints').selectAll().where('seq', '>=', last).orderBy('seq').limit(1).executeTakeFirst();
  if (!cp) throw new EvidenceError('no signed checkpoint covers the session yet; try again in a moment');
  const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>=', first).where('seq', '<=', cp.seq).orderBy('seq').execute();
  const events: AuditEvent[] = rows.map(({ meta, ...r }) => ({ ...r, outcome: r.outcome as AuditEvent['outcome'], meta: parseMeta(meta) }));
  const checkpoints = await db.selectFrom('audit_checkpoints').selectAll().where('seq', '>=', first).where('seq', '<=', cp.seq).orderBy('seq').execute();

  const mine = events.filter((e) => e.session_id === sessionId);
  const files: { name: string; bytes: Buffer }[] = [];
  const add = (name: string, bytes: Buffer | string) => files.push({ name, bytes: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes) });
  const jsonl = (xs: readonly unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + (xs.length ? '\n' : '');

  const metaOf = (type: string) => mine.filter((e) => e.type === type).map((e) => e.meta);
  const offer = metaOf('session.pending_consent')[0]?.offer;
  if (typeof offer === 'string') add('offer.jws', offer);
  const consent = metaOf('session.active')[0]?.receipt;
  if (typeof consent === 'string') add('receipts/consent.jws', consent);
  metaOf('extension.accepted').forEach((m, i) => typeof m.receipt === 'string' && add(`receipts/extension-${i}.jws`, m.receipt));
  metaOf('client.teardown_report').forEach((m, i) => typeof m.receipt === 'string' && add(`receipts/teardown-${i}.jws`, m.receipt));

  const rec = await db.selectFrom('recordings').selectAll().where('session_id', '=', sessionId).executeTakeFirst();
  if (rec && rec.state !== 'deleted') {
    const chunks = await db.selectFrom('recording_chunks').select(['seq', 'sha256']).where('session_id', '=', sessionId).orderBy('seq').execute();
    for (const c of chunks) {
      const name = chunkObjectName(c.seq, c.sha256);
      const b = await store.get(sessionId, name);
      if (b) add(`recording/${name}`, b);
    }
    for (const name of [MANIFEST_OBJECT, PLAYABLE_OBJECT]) {
      const b = await store.get(sessionId, name);
      if (b) add(`recording/${name}`, b);
    }
  }
  // The transcript's batches, one line each, in seq order (verify checks each against its transcript.batch event).
  const batches = (await store.list(sessionId)).filter((n) => /^transcript-\d{6}\.json$/.test(n)).sort();
  if (batches.length) {
    const lines: string[] = [];
    for (const n of batches) lines.push(((await store.get(sessionId, n)) ?? Buffer.alloc(0)).toString('utf8'));
    add('transcript.jsonl', lines.join('\n') + '\n');
  }

  // Every key that signed something in the bundle: checkpoints, the offer, the manifest.
  const kids = new Set<string>(checkpoints.map((c) => c.kid));
  const kidOf = (jws: Buffer | string | undefined) => {
    if (!jws) return;
    try {
      const h = JSON.parse(Buffer.from(String(jws).split('.')[0]!, 'base64url').toString('utf8')) as { kid?: unknown };
      if (typeof h.kid === 'string') kids.add(h.kid);
    } catch {
      /* not a JWS: verify will say so */
    }
  };
  kidOf(typeof offer === 'string' ? offer : undefined);
  kidOf(files.find((f) => f.name === `recording/${MANIFEST_OBJECT}`)?.bytes.toString('utf8'));
  const keys = [...kids].sort().map((kid) => o.keys.byKid(kid)?.publicJwk).filter((k) => k !== undefined);

  const head = [
    { name: 'audit/events.jsonl', bytes: Buffer.from(jsonl(events)) },
    { name: 'audit/checkpoints.jsonl', bytes: Buffer.from(jsonl(checkpoints)) },
    { name: 'keys.json', bytes: Buffer.from(JSON.stringify({ keys }, null, 1)) },
  ];
  const all = [...head, ...files];
  const index = {
    format: EVIDENCE_FORMAT,
    version: EVIDENCE_VERSION,
    session_id: sessionId,
    ticket: session.ticket_ref,
    exported_at: o.now,
    audit_span: { first_seq: first, last_seq: cp.seq },
    // Not trusted by verify (anyone could rewrite it); a table of contents for a person.
    files: all.map((f) => ({ name: f.name, bytes: f.bytes.length, sha256: crypto.createHash('sha256').update(f.bytes).digest('hex') })),
  };
  const tar = writeTar([{ name: 'evidence.json', bytes: Buffer.from(JSON.stringify(index, null, 1)) }, ...all], o.now);
  return { tar, files: all.length + 1, bytes: tar.length };
}
