import crypto from 'node:crypto';
import { canonicalJson } from '../../common/audit-chain.js';
import type { TranscriptBatch } from '../../common/recording.js';
import { transcriptObjectName } from '../storage/recording-store.js';
import { conflict, forbidden, unavailable, type DomainError } from '../domain-errors.js';
import type { SessionCore } from './core.js';
import { readRow } from './queries.js';
import { endUserActor } from './types.js';

/**
 * One batch of the transcript from the end user's input gate: the same checks as a chunk (the
 * end user's token and device, the session active, seq next in line), stored as one line of
 * canonical JSON, its sha256 chained as `transcript.batch {seq, lines, sha256}`, then acked.
 */
export async function acceptTranscriptBatch(
  core: SessionCore,
  u: { sessionId: string; batch: TranscriptBatch; jti: string; jkt: string; source: string | null },
): Promise<{ seq: number; sha256: string; entries: number }> {
  const row = await readRow(core, u.sessionId);
  const actor = endUserActor(u.jkt, u.source);
  const seq = u.batch.seq;
  const refuse = async (why: string, err: DomainError): Promise<never> => {
    const meta = { seq, why };
    await core.audit.refused({ type: 'transcript.batch_refused', outcome: 'denied', ...actor, session_id: row.id, ticket: row.ticket_ref, meta }, `transcript.batch_refused|${row.id}|${why}`);
    throw err;
  };
  if (row.end_user_jkt !== u.jkt) return refuse('not the end user of this session', forbidden('this device is not the end user of that session'));
  const token = await core.db.selectFrom('session_tokens').select(['session_id', 'role', 'revoked_at']).where('jti', '=', u.jti).executeTakeFirst();
  if (!token || token.session_id !== row.id || token.role !== 'end_user') return refuse('not an end-user token of this session', forbidden("this token is not the end user's for that session"));
  if (row.state === 'ended') return refuse('after the session ended', conflict('the session has ended; no more transcript is taken', 'session_ended'));
  if (row.state !== 'active' || token.revoked_at !== null) return refuse('the session is not active', conflict('the session is not active', 'not_active'));
  const rec = await core.db.selectFrom('recordings').select(['next_transcript_seq', 'state']).where('session_id', '=', row.id).executeTakeFirst();
  if (!rec || rec.state !== 'recording') return refuse('this session is not recorded', conflict('this session is not being recorded', 'not_recorded'));
  const line = canonicalJson(u.batch);
  const sha256 = crypto.createHash('sha256').update(line).digest('hex');
  if (seq < rec.next_transcript_seq) {
    const prior = await core.recordings.get(row.id, transcriptObjectName(seq));
    if (prior && prior.toString('utf8') === line) return { seq, sha256, entries: u.batch.entries.length };
    return refuse('repeated with other entries', conflict(`transcript batch ${seq} was already stored with other entries`, 'batch_conflict'));
  }
  if (seq !== rec.next_transcript_seq) return refuse('out of order', conflict(`transcript batch ${seq} is out of order: the next one is ${rec.next_transcript_seq}`, 'batch_out_of_order'));
  const upd = await core.db.updateTable('recordings').set({ next_transcript_seq: seq + 1 }).where('session_id', '=', row.id).where('next_transcript_seq', '=', seq).where('state', '=', 'recording').executeTakeFirst();
  if (Number(upd.numUpdatedRows) !== 1) return refuse('out of order', conflict(`transcript batch ${seq} is out of order`, 'batch_out_of_order'));
  try {
    await core.recordings.put(row.id, transcriptObjectName(seq), Buffer.from(line));
  } catch {
    // Not kept: give the seq back so the client's retry is taken.
    await core.db.updateTable('recordings').set({ next_transcript_seq: seq }).where('session_id', '=', row.id).where('next_transcript_seq', '=', seq + 1).execute();
    throw unavailable('the recording store could not keep the batch; send it again', 'recording_store_failed');
  }
  await core.audit.append({ type: 'transcript.batch', outcome: 'success', ...actor, session_id: row.id, ticket: row.ticket_ref, meta: { seq, lines: u.batch.entries.length, sha256 } });
  return { seq, sha256, entries: u.batch.entries.length };
}
